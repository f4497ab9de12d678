"""TFX's Pusher executor, made idempotent: a model that is already the newest pushed version is not copied again.

An unchanged pipeline re-run is served from the cache up to the trainer, but the evaluator re-runs (its baseline,
the latest blessed model, is now the first run's model) and hands the Pusher a new blessing for the same model.
The stock executor would copy it again under a new version number; this one compares the SavedModel fingerprints
(`fingerprint.pb`, written by TensorFlow with every SavedModel) with the newest pushed version's and, when they are
equal, records that version as the push destination instead.

With `custom_config={'fallback_to_start_model': True}` (`push.fallback_to_start_model`), a candidate the evaluator
refused is replaced by the model it started from when the evaluator found that one good enough on its own
(`start_model_blessed` on the blessing; the layout: `contracts/model_artifact.py`): a run never pushes a colorizer
worse than its starting point, and a first run still serves one. The PushedModel artifact records which model it
is (`pushed_model_source`: `candidate` or `start`).
"""

from __future__ import annotations

import json
import os
from typing import Any

from tfx import types
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from contracts import model_artifact

_FINGERPRINT = 'fingerprint.pb'


def _read(path: str) -> bytes | None:
  if not fileio.exists(path):
    return None
  with fileio.open(path, 'rb') as f:
    return f.read()


def newest_version(base_directory: str) -> str | None:
  if not fileio.exists(base_directory):
    return None
  versions = [v.rstrip('/') for v in fileio.listdir(base_directory) if v.rstrip('/').isdigit()]
  return os.path.join(base_directory, max(versions, key=int)) if versions else None


class Executor(tfx_pusher_executor.Executor):
  """Pushes like the stock Pusher, except when the newest pushed version already is this model."""

  _source = 'candidate'

  def CheckBlessing(self, input_dict: dict[str, list[types.Artifact]]) -> bool:
    return self._source == 'start' or super().CheckBlessing(input_dict)

  def GetModelPath(self, input_dict: dict[str, list[types.Artifact]]) -> str:
    if self._source == 'start':
      model = artifact_utils.get_single_instance(input_dict[standard_component_specs.MODEL_KEY])
      return model_artifact.start_model_dir(model.uri)
    return super().GetModelPath(input_dict)

  def _choose_source(self, input_dict: dict[str, list[types.Artifact]], exec_properties: dict[str, Any]) -> str:
    """`candidate` when the candidate is blessed (or the fallback is off), `start` when it falls back."""
    custom = json.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or 'null') or {}
    blessings = input_dict.get(standard_component_specs.MODEL_BLESSING_KEY) or []
    if not (custom.get('fallback_to_start_model') and blessings):
      return 'candidate'
    blessing = artifact_utils.get_single_instance(blessings)
    if blessing.get_int_custom_property('blessed') == 1:
      return 'candidate'
    return 'start' if blessing.get_int_custom_property('start_model_blessed') == 1 else 'candidate'

  def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
         exec_properties: dict[str, Any]) -> None:
    self._source = self._choose_source(input_dict, exec_properties)
    model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
    model_push.set_string_custom_property('pushed_model_source', self._source)
    self._push(input_dict, output_dict, exec_properties)

  def _push(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
            exec_properties: dict[str, Any]) -> None:
    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
    if destination.WhichOneof('destination') == 'filesystem' and self.CheckBlessing(input_dict):
      newest = newest_version(destination.filesystem.base_directory)
      candidate = _read(os.path.join(self.GetModelPath(input_dict), _FINGERPRINT))
      if newest and candidate is not None and candidate == _read(os.path.join(newest, _FINGERPRINT)):
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        self._MarkPushed(model_push, pushed_destination=newest, pushed_version=os.path.basename(newest))
        model_push.set_int_custom_property('already_pushed', 1)
        return
    super().Do(input_dict, output_dict, exec_properties)
