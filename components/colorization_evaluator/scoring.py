"""Scores a colorizer and the two reference predictors on the same records, and decides the blessing.

The references are what a gate must refuse: no colour at all (ab = 0; a strong PSNR, no colour) and a constant
sepia tint (ab = (6, 18) everywhere; colourful enough to fool colourfulness, the desaturation rate and even
rebalanced ab accuracy, but right only for browns and oranges). The hue-balanced recall tells them apart.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tensorflow as tf

import configs
from contracts import schema
from trainer.objective import metrics

SEPIA_AB = (6.0, 18.0)  # the constant tint of old photos (and of colorizers that learnt the average colour)
REFERENCES = {
    'gray': lambda l: np.zeros((*l.shape[:-1], 2), np.float32),
    'sepia': lambda l: np.broadcast_to(np.asarray(SEPIA_AB, np.float32), (*l.shape[:-1], 2)),
}


def saved_model_predictor(model_dir: str) -> Callable[[np.ndarray], np.ndarray]:
  """L batch [N, H, W, 1] -> ab batch, through the SavedModel's `predict_ab` signature."""
  predict = tf.saved_model.load(model_dir).signatures['predict_ab']
  return lambda l: predict(l=tf.constant(l))['ab'].numpy()


def score(predictor: Callable[[np.ndarray], np.ndarray], records: list[dict[str, Any]],
          interval: bool = False) -> tuple[dict[str, Any], list[np.ndarray]]:
  """Metrics of a predictor (L batch -> ab batch) on decoded records, and its predicted ab per record. With
  `interval` (the benchmarks), also the hue recall's bootstrap interval over the photos (`HueRecall.interval`)."""
  labs = [r[schema.LAB] for r in records]
  predictions = []
  for start in range(0, len(labs), 32):
    l = np.stack([lab[..., :1] for lab in labs[start:start + 32]]).astype(np.float32)
    predictions.extend(list(np.asarray(predictor(l))))
  report = metrics.evaluate(labs, predictions).as_dict()
  frequency = metrics.bin_frequencies(labs)
  coloured = [i for i, lab in enumerate(labs) if metrics.is_coloured(lab)]
  report['rebalanced_ab_accuracy'] = float(np.mean(
      [metrics.rebalanced_ab_accuracy(labs[i][..., 1:], predictions[i], frequency) for i in coloured]))
  if interval:
    bounds = metrics.hue_recall_interval([labs[i][..., 1:] for i in coloured], [predictions[i] for i in coloured])
    report['hue_recall_interval'], report['hue_recall_sectors_interval'] = bounds['hue_recall'], bounds['sectors']
  return report, predictions


def score_references(records: list[dict[str, Any]], interval: bool = False) -> dict[str, dict[str, Any]]:
  return {name: score(predictor, records, interval)[0] for name, predictor in REFERENCES.items()}


def decide(candidate: dict[str, Any], baseline: dict[str, Any] | None, references: dict[str, dict[str, Any]],
           thresholds: configs.EvaluationConfig) -> tuple[bool, list[str]]:
  """Blessed when the absolute thresholds hold, the candidate beats the sepia reference's hue recall by the
  required factor, and no metric regresses against the baseline (the model the candidate started from, or the
  latest blessed model) beyond its allowed change. Returns (blessed, the reasons it is not)."""
  reasons = []
  if candidate['delta_psnr'] < thresholds.min_delta_psnr:
    reasons.append(f'ΔPSNR {candidate["delta_psnr"]:.2f} dB < min_delta_psnr {thresholds.min_delta_psnr}')
  if candidate['hue_recall'] < thresholds.min_hue_recall:
    reasons.append(f'hue-balanced recall {candidate["hue_recall"]:.3f} < min_hue_recall {thresholds.min_hue_recall}')
  sepia = references['sepia']['hue_recall']
  if candidate['hue_recall'] < thresholds.min_hue_recall_vs_sepia * sepia:
    reasons.append(f'hue-balanced recall {candidate["hue_recall"]:.3f} < min_hue_recall_vs_sepia '
                   f'{thresholds.min_hue_recall_vs_sepia} x the constant sepia tint\'s {sepia:.3f}')
  sectors = [r for r in candidate['hue_recall_sectors'] if not np.isnan(r)]
  if sectors and min(sectors) < thresholds.min_sector_recall:
    reasons.append(f'lowest hue-sector recall {min(sectors):.3f} < min_sector_recall {thresholds.min_sector_recall}')
  if candidate['colourfulness_ratio'] < thresholds.min_colorfulness_ratio:
    reasons.append(f'colourfulness ratio {candidate["colourfulness_ratio"]:.2f} < min_colorfulness_ratio '
                   f'{thresholds.min_colorfulness_ratio}')
  if candidate['desaturation_rate'] > thresholds.max_desaturation_rate:
    reasons.append(f'desaturation rate {candidate["desaturation_rate"]:.2f} > max_desaturation_rate '
                   f'{thresholds.max_desaturation_rate}')
  if candidate['delta_colourfulness'] > thresholds.max_delta_colorfulness:
    reasons.append(f'ΔCF {candidate["delta_colourfulness"]:.1f} > max_delta_colorfulness '
                   f'{thresholds.max_delta_colorfulness}')
  if baseline is not None:
    if baseline['hue_recall'] - candidate['hue_recall'] > thresholds.max_hue_recall_regression:
      reasons.append(f'hue-balanced recall regressed {100 * (baseline["hue_recall"] - candidate["hue_recall"]):.1f} '
                     f'points against the baseline ({baseline["hue_recall"]:.3f} -> {candidate["hue_recall"]:.3f}; '
                     f'> max_hue_recall_regression {thresholds.max_hue_recall_regression})')
    if baseline['psnr'] - candidate['psnr'] > thresholds.max_psnr_regression:
      reasons.append(f'PSNR regressed {baseline["psnr"] - candidate["psnr"]:.2f} dB against the baseline '
                     f'(> max_psnr_regression {thresholds.max_psnr_regression})')
    if candidate['delta_colourfulness'] - baseline['delta_colourfulness'] > thresholds.max_colorfulness_regression:
      reasons.append(f'ΔCF regressed {candidate["delta_colourfulness"] - baseline["delta_colourfulness"]:.1f} '
                     f'against the baseline (> max_colorfulness_regression '
                     f'{thresholds.max_colorfulness_regression})')
  return not reasons, reasons
