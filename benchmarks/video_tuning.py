"""How benchmarks/bench_video.py checks the consistency step's defaults without measuring on what chose them: the
grid of settings tried on the tuning clip, the rule that picks one there, and the targets the held-out clips are
held to. Pure functions over score rows ({'flicker', 'hue_recall', 'psnr', ...}), so the rule is tested alone."""

from __future__ import annotations

import itertools
from typing import Sequence

from serving.video import consistency

# The settings tried on the tuning clip; the defaults (consistency.ConsistencyOptions) are among them.
GRID = {'blend': (0.5, 0.7, 0.8, 0.9, 0.95), 'fb_tolerance_px': (0.75, 1.5, 3.0), 'l_tolerance': (4.0, 8.0, 16.0)}
HUE_MARGIN_POINTS = 1.0  # a setting may lose at most this much hue recall (points) against per-frame colour ...
PSNR_MARGIN_DB = 0.1     # ... and this much PSNR (dB), or `pick` passes it over
TUNED = tuple(GRID)


def settings() -> list[dict[str, float]]:
  """Every setting of GRID, as {option: value}."""
  return [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]


def options_of(setting: dict[str, float]) -> consistency.ConsistencyOptions:
  return consistency.ConsistencyOptions(**{k: setting[k] for k in TUNED})


def setting_of(options: consistency.ConsistencyOptions) -> dict[str, float]:
  return {k: getattr(options, k) for k in TUNED}


def acceptable(row: dict[str, float], per_frame: dict[str, float]) -> bool:
  """Keeps hue recall within HUE_MARGIN_POINTS and PSNR within PSNR_MARGIN_DB of per-frame colour's."""
  return (100 * (row['hue_recall'] - per_frame['hue_recall']) >= -HUE_MARGIN_POINTS
          and row['psnr'] - per_frame['psnr'] >= -PSNR_MARGIN_DB)


def pick(rows: Sequence[dict[str, float]], per_frame: dict[str, float]) -> dict[str, float]:
  """The row with the least flicker among the acceptable ones (ValueError when none is)."""
  kept = [row for row in rows if acceptable(row, per_frame)]
  if not kept:
    raise ValueError('no setting of the grid keeps hue recall and PSNR close to per-frame colour\'s')
  return min(kept, key=lambda row: row['flicker'])


def targets(per_frame: dict[str, float], consistent: dict[str, float], original_flicker: float) -> dict:
  """The consistent output against per-frame colour and the original: flicker <= 0.5x per-frame's and <= 1.5x the
  original's, hue recall within 2 points of per-frame's; each with its figure and whether it is met."""
  ratio_per_frame = consistent['flicker'] / per_frame['flicker']
  ratio_original = consistent['flicker'] / original_flicker
  hue_points = 100 * (consistent['hue_recall'] - per_frame['hue_recall'])
  return {
      'consistent_flicker_vs_per_frame': {'ratio': ratio_per_frame, 'target': '<= 0.5', 'met': ratio_per_frame <= 0.5},
      'consistent_flicker_vs_original': {'ratio': ratio_original, 'target': '<= 1.5', 'met': ratio_original <= 1.5},
      'hue_recall_points_vs_per_frame': {'difference': hue_points, 'target': 'within 2 points',
                                         'met': abs(hue_points) <= 2.0},
  }
