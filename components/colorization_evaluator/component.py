"""ColorizationEvaluator component: examples + candidate model (+ baseline) -> evaluation + blessing."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_beam_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter

from components.colorization_evaluator import executor


class ColorizationEvaluatorSpec(ComponentSpec):
  PARAMETERS = {
      executor.CONFIG_KEY: ExecutionParameter(type=str),
  }
  INPUTS = {
      executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
      executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      executor.BASELINE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model, optional=True),
  }
  OUTPUTS = {
      executor.EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
      executor.BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
  }


class ColorizationEvaluator(base_beam_component.BaseBeamComponent):
  """Colorization metrics and the quality gate; `blessing` feeds the Pusher and the baseline resolver."""

  SPEC_CLASS = ColorizationEvaluatorSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  def __init__(self, examples: types.BaseChannel, model: types.BaseChannel, config_json: str,
               baseline_model: types.BaseChannel | None = None):
    spec = ColorizationEvaluatorSpec(
        config=config_json, examples=examples, model=model, baseline_model=baseline_model,
        evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
        blessing=types.Channel(type=standard_artifacts.ModelBlessing))
    super().__init__(spec=spec)
