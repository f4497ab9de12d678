"""IdempotentPusher: TFX's standard Pusher (component id `Pusher`) to a filesystem destination, with the executor
that does not push the same model twice (`executor.py`)."""

from __future__ import annotations

from tfx import types
from tfx.components import Pusher
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2

from components.idempotent_pusher import executor


def IdempotentPusher(model: types.Channel, model_blessing: types.Channel, destination: str,  # pylint: disable=invalid-name
                     fallback_to_start_model: bool = False) -> Pusher:
  """Pushes a blessed model to `<destination>/<unix timestamp>/` (TF Serving layout, local or gs://); with
  `fallback_to_start_model`, a refused candidate's starting model when the evaluator found that one good."""
  return Pusher(model=model, model_blessing=model_blessing,
                custom_config={'fallback_to_start_model': bool(fallback_to_start_model)},
                push_destination=pusher_pb2.PushDestination(
                    filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=destination)),
                custom_executor_spec=executor_spec.ExecutorClassSpec(executor.Executor))
