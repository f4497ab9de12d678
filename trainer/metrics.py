"""Colorization metrics, as defined in shared/notes/anchors.md section 2 (shared by benchmarks and the evaluator).

All metrics look at the sRGB image a user would see: sRGB(L_original, ab_predicted) as uint8, next to the
original photo. PSNR must be read next to a colourfulness measure: predicting no colour at all (ab = 0) scores a
strong PSNR (~24-25 dB on typical photos) while being useless.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from contracts import colorspace

COLOURED_THRESHOLD = 5.0  # an image with no pixel where |a| or |b| > 5 is a grayscale source: not evaluated
DESATURATION_RATIO = 0.25


MAX_PSNR = 100.0  # identical images: capped instead of infinite, so averages stay finite


def psnr(rgb_pred: np.ndarray, rgb_true: np.ndarray) -> float:
  """10 log10(255^2 / MSE) over 8-bit RGB (capped at MAX_PSNR)."""
  mse = np.mean((rgb_pred.astype(np.float64) - rgb_true.astype(np.float64)) ** 2)
  return MAX_PSNR if mse == 0 else float(min(MAX_PSNR, 10.0 * np.log10(255.0 ** 2 / mse)))


def colourfulness(rgb: np.ndarray) -> float:
  """Hasler & Suesstrunk: sqrt(sd_rg^2 + sd_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2), on 0-255 RGB."""
  r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
  rg = np.abs(r - g)
  yb = np.abs(0.5 * (r + g) - b)
  return float(np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


def is_coloured(lab: np.ndarray) -> bool:
  return bool(np.abs(lab[..., 1:]).max() > COLOURED_THRESHOLD)


@dataclasses.dataclass
class Report:
  """Averages over the coloured images of an evaluation set."""
  images: int
  psnr: float
  psnr_gray: float
  delta_psnr: float            # psnr - psnr_gray: what the colours add over predicting none
  colourfulness: float
  colourfulness_true: float
  delta_colourfulness: float   # |mean CF(pred) - mean CF(truth)|
  colourfulness_ratio: float   # mean CF(pred) / mean CF(truth)
  desaturation_rate: float     # share of images with CF(pred) < 0.25 CF(truth)

  def as_dict(self) -> dict[str, float]:
    return dataclasses.asdict(self)


def evaluate(lab_true: list[np.ndarray], ab_pred: list[np.ndarray]) -> Report:
  """lab_true: [H, W, 3] float Lab per image; ab_pred: [H, W, 2] per image (same size)."""
  psnrs, psnrs_gray, cf_pred, cf_true = [], [], [], []
  for lab, ab in zip(lab_true, ab_pred):
    if not is_coloured(lab):
      continue
    truth = colorspace.lab_to_rgb8(lab)
    prediction = colorspace.lab_to_rgb8(np.concatenate([lab[..., :1], ab], axis=-1))
    gray = colorspace.lab_to_rgb8(np.concatenate([lab[..., :1], np.zeros_like(ab)], axis=-1))
    psnrs.append(psnr(prediction, truth))
    psnrs_gray.append(psnr(gray, truth))
    cf_pred.append(colourfulness(prediction))
    cf_true.append(colourfulness(truth))
  if not psnrs:
    raise ValueError('no coloured image to evaluate')
  cf_pred_arr, cf_true_arr = np.array(cf_pred), np.array(cf_true)
  return Report(
      images=len(psnrs),
      psnr=float(np.mean(psnrs)), psnr_gray=float(np.mean(psnrs_gray)),
      delta_psnr=float(np.mean(psnrs) - np.mean(psnrs_gray)),
      colourfulness=float(cf_pred_arr.mean()), colourfulness_true=float(cf_true_arr.mean()),
      delta_colourfulness=float(abs(cf_pred_arr.mean() - cf_true_arr.mean())),
      colourfulness_ratio=float(cf_pred_arr.mean() / max(cf_true_arr.mean(), 1e-9)),
      desaturation_rate=float(np.mean(cf_pred_arr < DESATURATION_RATIO * cf_true_arr)))


def rebalanced_ab_accuracy(ab_true: np.ndarray, ab_pred: np.ndarray, bin_frequency: np.ndarray,
                           thresholds: int = 151) -> float:
  """Zhang's AuC idea, rebalanced: mean over t = 0..150 of sum_p w_p [|ab_p - ab^_p| <= t], with
  w_p ∝ 1 / p(bin(ab_p)) (p from the evaluation set) and sum_p w_p = 1 per image. Returns a value in [0, 1].

  Unweighted accuracy does not separate a good model from no colour at all (gray scores ~0.92): rare, saturated
  colours weigh as much as the common near-gray ones here.
  """
  from trainer import color_bins  # pylint: disable=g-import-not-at-top
  bins = color_bins.nearest_bin_numpy(ab_true.reshape(-1, 2))
  weights = 1.0 / np.maximum(bin_frequency[bins], 1e-12)
  weights /= weights.sum()
  error = np.linalg.norm((ab_true - ab_pred).reshape(-1, 2), axis=-1)
  ts = np.arange(thresholds)
  return float(np.mean([(weights * (error <= t)).sum() for t in ts]))


def bin_frequencies(labs: list[np.ndarray]) -> np.ndarray:
  """Empirical bin distribution p of an evaluation set's true ab (for `rebalanced_ab_accuracy`)."""
  from trainer import color_bins  # pylint: disable=g-import-not-at-top
  histogram = color_bins.bin_histogram(lab[..., 1:] for lab in labs).astype(np.float64)
  return histogram / max(histogram.sum(), 1.0)
