"""The quality gate's and the pusher's config."""

from __future__ import annotations

import dataclasses

from configs.base import ConfigError


@dataclasses.dataclass
class EvaluationConfig:
  """The quality gate: absolute thresholds, two reference predictors, and allowed change against the baseline.

  Every candidate is scored next to two references on the same examples: no colour (ab = 0) and a constant sepia
  tint (ab = (6, 18)), which fools colourfulness but not the hue-balanced recall. The gate is set so neither
  reference can pass it.

  Attributes:
    min_delta_psnr: Candidate PSNR minus the gray baseline's PSNR must be at least this (dB).
    min_hue_recall: Smallest allowed hue-balanced recall (mean over the six hue sectors, `trainer.objective.metrics`).
    min_hue_recall_vs_sepia: The candidate's hue-balanced recall must be at least this multiple of the constant
      sepia reference's on the same examples (> 1: a tint cannot pass).
    min_sector_recall: Smallest allowed recall in any hue sector that has truly coloured pixels.
    min_colorfulness_ratio: Smallest allowed mean CF(pred) / mean CF(truth) (gray scores 0).
    max_desaturation_rate: Largest allowed share of images with CF(pred) < 0.25 CF(truth).
    max_delta_colorfulness: Largest allowed |mean CF(pred) - mean CF(truth)|.
    max_psnr_regression: Largest allowed PSNR drop against the baseline model (dB). The baseline is the model the
      candidate started from (the warm-start weights, which the trainer exports next to the candidate as
      `Start-Serving`) when there is one, else the latest blessed model; both are scored on the same examples.
    max_hue_recall_regression: Largest allowed drop of the hue-balanced recall against the baseline model
      (0.01 = one point).
    max_colorfulness_regression: Largest allowed ΔCF increase against the baseline model.
    report_samples: Sample colorizations shown in the HTML report.
    split: The dataset split the gate scores. `test` by default: the trainer chooses its decoding (temperature or
      chroma gain) on `eval`, so a gate on `eval` would judge the model on the photos it was tuned on.
  """

  split: str = 'test'
  min_delta_psnr: float = 0.0
  min_hue_recall: float = 0.0
  min_hue_recall_vs_sepia: float = 1.5
  min_sector_recall: float = 0.0
  min_colorfulness_ratio: float = 0.3
  max_desaturation_rate: float = 0.5
  max_delta_colorfulness: float = 40.0
  max_psnr_regression: float = 0.1
  max_hue_recall_regression: float = 0.01
  max_colorfulness_regression: float = 2.0
  report_samples: int = 12

  def validate(self) -> None:
    """Raises ConfigError naming the first key out of its range."""
    if self.split == 'train':
      raise ConfigError('evaluation.split: the gate cannot score the training split')


@dataclasses.dataclass
class PushConfig:
  """Where a blessed model goes.

  Attributes:
    destination: Local folder or `gs://` prefix; each push lands in `<destination>/<unix timestamp>/`.
    fallback_to_start_model: When the candidate is not blessed but the model it started from (its warm-start
      weights, exported next to it) passes the gate's absolute thresholds on the same examples, push that model
      instead: a run never pushes a colorizer worse than the one it started from, and a first run still serves
      one. The pushed model records which it is (`pushed_model_source`: `candidate` or `start`).
  """

  destination: str = 'outputs/serving_model'
  fallback_to_start_model: bool = False
