"""Calls `trainer.train.run_fn` with TFX's FnArgs, like the stock Trainer executor minus its TFDV imports.

Keys (standard_component_specs.TrainerSpec):
  input_dict['examples']: the Examples artifact of LabExampleGen (a dataset version: manifest + Split-<name>/).
  exec_properties['train_args']: TrainArgs JSON; `splits` (default ['train']) are the training files, `num_steps`
    > 0 caps the training steps.
  exec_properties['eval_args']: EvalArgs JSON; `splits` (default ['eval']) are evaluated every epoch and choose the
    decoding (annealed-mean temperature, prior correction).
  exec_properties['custom_config']: JSON with {'config': the model and training sections of the PipelineConfig}.
  output_dict['model']: the SavedModel goes to `<model.uri>/Format-Serving`; the run fails when none was written.
  output_dict['model_run']: TensorBoard logs.

The files come from the artifact through TFX's own helpers (`fn_args_utils.get_common_fn_args`:
`artifact_utils.get_split_uris` + `io_utils.all_files_pattern`), as with the stock Trainer, so a split that the
Examples artifact does not have fails here, naming it. Every path goes through TFX's filesystem layer (`fileio`):
the artifacts may live on gs://.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tfx import types
from tfx.components.trainer import fn_args_utils
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import path_utils

from trainer import train


class ModelNotWrittenError(RuntimeError):
  """The training function returned without writing a SavedModel where the Model artifact expects it."""


class Executor(base_executor.BaseExecutor):
  """Trains the configured colorizer (`model.network.variant`) on the examples; writes the SavedModel and its logs."""

  def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
         exec_properties: dict[str, Any]) -> None:
    model = artifact_utils.get_single_instance(output_dict[standard_component_specs.MODEL_KEY])
    model_run = artifact_utils.get_single_instance(output_dict[standard_component_specs.MODEL_RUN_KEY])
    properties = dict(exec_properties)
    for key in (standard_component_specs.TRAIN_ARGS_KEY, standard_component_specs.EVAL_ARGS_KEY):
      properties[key] = properties.get(key) or '{}'
    fn_args = fn_args_utils.get_common_fn_args(input_dict, properties, working_dir=os.path.join(model.uri, 'working'))
    fn_args.serving_model_dir = path_utils.serving_model_dir(model.uri)
    fn_args.model_run_dir = model_run.uri
    fn_args.custom_config = json.loads(properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or '{}')
    fileio.makedirs(fn_args.working_dir)
    train.run_fn(fn_args)
    written = fn_args.serving_model_dir
    if not (fileio.exists(f'{written}/saved_model.pb') or fileio.exists(f'{written}/saved_model.pbtxt')):
      raise ModelNotWrittenError(
          f'the training function returned without writing a SavedModel to {written} (the Model artifact\'s '
          '`Format-Serving` folder); nothing would be evaluated or pushed')
