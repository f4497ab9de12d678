"""LabExampleGen component: raw colour photos in (from the config's data.input_uri), Examples out."""

from __future__ import annotations

from tfx.dsl.components.base import base_beam_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter
from tfx import types

import configs
from components.lab_example_gen import executor


class LabExampleGenSpec(ComponentSpec):
  """The config slice (JSON) and an input fingerprint in; Examples (with dead letters and manifest) out."""
  PARAMETERS = {
      executor.CONFIG_KEY: ExecutionParameter(type=str),
      executor.INPUT_FINGERPRINT_KEY: ExecutionParameter(type=str, optional=True),
  }
  INPUTS = {}
  OUTPUTS = {executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}


class LabExampleGen(base_beam_component.BaseBeamComponent):
  """Runs the dataset build's Beam transforms inside the pipeline.

  `input_fingerprint` should change when the photos change (`dataset.inputs.fingerprint` computes one from the
  listing): it is what makes a re-run with new photos rebuild while an unchanged re-run is served from the cache.
  """

  SPEC_CLASS = LabExampleGenSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  def __init__(self, config_json: str, input_fingerprint: str = ''):
    """`config_json`: `example_gen_config(config)`, only the sections the build reads."""
    spec = LabExampleGenSpec(
        config=config_json, input_fingerprint=input_fingerprint,
        examples=types.Channel(type=standard_artifacts.Examples))
    super().__init__(spec=spec)


def example_gen_config(config) -> str:
  """The slice of a PipelineConfig LabExampleGen gets: `data` (+ `model` when the build runs its embedder)."""
  sections = ('data', 'model') if config.data.precompute_embeddings else ('data',)
  return configs.slice_json(config, *sections)
