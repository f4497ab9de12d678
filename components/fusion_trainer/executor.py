"""Calls `trainer.train.run_fn` with TFX's FnArgs, like the stock Trainer executor minus its TFDV imports.

Keys (standard_component_specs.TrainerSpec):
  input_dict['examples']: the Examples artifact of LabExampleGen (a dataset version: manifest + Split-<name>/).
  exec_properties['train_args']: TrainArgs JSON; `num_steps` > 0 caps the training steps.
  exec_properties['eval_args']: EvalArgs JSON (unused: the trainer evaluates every epoch on the eval split).
  exec_properties['custom_config']: JSON with {'config': PipelineConfig as plain data}.
  output_dict['model']: the SavedModel goes to `<model.uri>/Format-Serving`.
  output_dict['model_run']: TensorBoard logs.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tfx import types
from tfx.components.trainer import fn_args_utils
from tfx.dsl.components.base import base_executor
from tfx.proto import trainer_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.dsl.io import fileio
from tfx.utils import path_utils
from tfx.utils import proto_utils

from contracts import schema
from trainer import train


class Executor(base_executor.BaseExecutor):
  """Trains the fusion colorizer on the examples and writes the SavedModel and its logs."""

  def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
         exec_properties: dict[str, Any]) -> None:
    examples = artifact_utils.get_single_instance(input_dict[standard_component_specs.EXAMPLES_KEY])
    model = artifact_utils.get_single_instance(output_dict[standard_component_specs.MODEL_KEY])
    model_run = artifact_utils.get_single_instance(output_dict[standard_component_specs.MODEL_RUN_KEY])
    train_args = trainer_pb2.TrainArgs()
    proto_utils.json_to_proto(exec_properties.get(standard_component_specs.TRAIN_ARGS_KEY) or '{}', train_args)
    custom_config = json.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or '{}')
    fn_args = fn_args_utils.FnArgs(
        working_dir=os.path.join(model.uri, 'working'),
        train_files=[os.path.join(examples.uri, schema.split_file_pattern('train'))],
        eval_files=[os.path.join(examples.uri, schema.split_file_pattern('eval'))],
        train_steps=train_args.num_steps or None,
        serving_model_dir=path_utils.serving_model_path(model.uri),
        model_run_dir=model_run.uri,
        custom_config={**custom_config, 'dataset_dir': examples.uri})
    fileio.makedirs(fn_args.working_dir)
    train.run_fn(fn_args)
