"""Typed configuration of every pipeline stage, in the style of tensorflow/models `official/core/config_definitions`.

One `PipelineConfig` object is loaded once (from YAML plus command-line overrides, `configs.loading`) and handed to
every stage; no stage reads YAML on its own. Each section is a dataclass in its own module that documents its
fields in an `Attributes:` section and validates itself; `PipelineConfig.validate` adds the checks that span
sections. The generated reference of every key is docs/configuration.md.
"""

from __future__ import annotations

import dataclasses

from configs.base import ConfigError
from configs.data_config import AugmentationConfig
from configs.data_config import DataConfig
from configs.gate_config import EvaluationConfig
from configs.gate_config import PushConfig
from configs.model_config import DecodingConfig
from configs.model_config import LossConfig
from configs.model_config import ModelConfig
from configs.model_config import NetworkConfig
from configs.model_config import VARIANT_DOWNSAMPLING
from configs.runner_config import RunnerConfig
from configs.training_config import AveragingConfig
from configs.training_config import OptimizerConfig
from configs.training_config import SamplingConfig
from configs.training_config import ScheduleConfig
from configs.training_config import TrainingConfig

__all__ = ['AugmentationConfig', 'AveragingConfig', 'ConfigError', 'DataConfig', 'DecodingConfig',
           'EvaluationConfig', 'LossConfig', 'ModelConfig', 'NetworkConfig', 'OptimizerConfig', 'PipelineConfig',
           'PushConfig', 'RunnerConfig', 'SamplingConfig', 'ScheduleConfig', 'TrainingConfig',
           'VARIANT_DOWNSAMPLING']


@dataclasses.dataclass
class PipelineConfig:
  """Everything one run of the colorization pipeline needs.

  Attributes:
    data: The dataset build.
    model: The colorization model.
    training: Distributed training.
    evaluation: The quality gate.
    push: The model destination.
    runner: Orchestration and Beam execution.
  """

  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
  training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
  evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
  push: PushConfig = dataclasses.field(default_factory=PushConfig)
  runner: RunnerConfig = dataclasses.field(default_factory=RunnerConfig)

  def validate(self, sections: frozenset[str] | None = None) -> None:
    """Each given section checks itself, then the constraints that span sections; raises ConfigError naming the key.

    `sections`: only check what involves these sections (a component's config slice, see
    `configs.loading.slice_json`); None checks everything.
    """
    for field in dataclasses.fields(self):
      section = getattr(self, field.name)
      if (sections is None or field.name in sections) and hasattr(section, 'validate'):
        section.validate()
    if sections is None or {'data', 'model'} <= sections:
      downsampling = self.model.network.downsampling
      if self.data.image_size % downsampling:
        raise ConfigError(f'data.image_size: must be a multiple of {downsampling} for model.network.variant='
                          f'{self.model.network.variant} (its encoder downsamples {downsampling}x), got '
                          f'{self.data.image_size}')
