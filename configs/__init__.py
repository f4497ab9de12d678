"""Typed, documented configuration of the colorization pipeline (one object flows through every stage)."""

from configs.base import ConfigError
from configs.definitions import AugmentationConfig
from configs.definitions import AveragingConfig
from configs.definitions import DataConfig
from configs.definitions import DecodingConfig
from configs.definitions import EvaluationConfig
from configs.definitions import LossConfig
from configs.definitions import ModelConfig
from configs.definitions import NetworkConfig
from configs.definitions import OptimizerConfig
from configs.definitions import PipelineConfig
from configs.definitions import PushConfig
from configs.definitions import RunnerConfig
from configs.definitions import SamplingConfig
from configs.definitions import ScheduleConfig
from configs.definitions import TrainingConfig
from configs.loading import DEFAULT_CONFIG_PATH
from configs.loading import config_from_dict
from configs.loading import config_from_slice
from configs.loading import load_config
from configs.loading import slice_dict
from configs.loading import slice_json
from configs.loading import to_dict

__all__ = ['AugmentationConfig', 'AveragingConfig', 'ConfigError', 'DEFAULT_CONFIG_PATH', 'DataConfig',
           'DecodingConfig', 'EvaluationConfig', 'LossConfig', 'ModelConfig', 'NetworkConfig', 'OptimizerConfig',
           'PipelineConfig', 'PushConfig', 'RunnerConfig', 'SamplingConfig', 'ScheduleConfig', 'TrainingConfig',
           'config_from_dict', 'config_from_slice', 'load_config', 'slice_dict', 'slice_json', 'to_dict']
