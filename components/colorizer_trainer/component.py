"""ColorizerTrainer component: the standard TrainerSpec (examples, train_args, eval_args, custom_config -> model,
model_run), with our own executor, because the stock Trainer's executor imports TFDV (not installable here)."""

from __future__ import annotations

import json
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs

import configs
from components.colorizer_trainer import executor
from components.colorizer_trainer import vertex_executor


def trainer_custom_config(config) -> dict[str, Any]:
  """The trainer's custom_config: `config` = only the `model` and `training` sections (what the trainer reads; the
  data facts come from the examples' manifest), plus the custom job spec for a multi-worker Vertex trainer."""
  custom = {'config': configs.slice_dict(config, 'model', 'training')}
  if config.runner.kind == 'vertex' and config.runner.trainer_worker_count > 1:
    custom[vertex_executor.JOB_KEY] = vertex_executor.job_config(config.runner)
  return custom


class ColorizerTrainer(base_component.BaseComponent):
  """Trains the colorizer; `custom_config['config']` carries its slice of the PipelineConfig (plain data)."""

  SPEC_CLASS = standard_component_specs.TrainerSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, examples: types.BaseChannel, custom_config: dict[str, Any],
               train_args: trainer_pb2.TrainArgs | None = None, eval_args: trainer_pb2.EvalArgs | None = None,
               base_model: types.BaseChannel | None = None):
    spec = standard_component_specs.TrainerSpec(
        examples=examples,
        base_model=base_model,
        train_args=train_args or trainer_pb2.TrainArgs(),
        eval_args=eval_args or trainer_pb2.EvalArgs(),
        custom_config=json.dumps(custom_config, sort_keys=True),
        model=types.Channel(type=standard_artifacts.Model),
        model_run=types.Channel(type=standard_artifacts.ModelRun))
    super().__init__(spec=spec)


class VertexColorizerTrainer(ColorizerTrainer):
  """ColorizerTrainer whose training runs as a multi-worker Vertex AI custom job (runner.trainer_* settings)."""

  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(vertex_executor.Executor)
