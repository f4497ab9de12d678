"""Colorization metrics, as defined in docs/quality.md (shared by the benchmarks and the evaluator).

All metrics look at the sRGB image a user would see: sRGB(L_original, ab_predicted) as uint8, next to the
original photo. PSNR must be read next to a colourfulness measure: predicting no colour at all (ab = 0) scores a
strong PSNR while being useless (docs/quality.md).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from contracts import colorspace
from contracts import limits

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
  """A grayscale source (no pixel with |a| or |b| > 5) is not evaluated: `contracts.limits.is_colour_lab`."""
  return limits.is_colour_lab(lab)


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
  hue_recall: float            # hue-balanced recall (`HueRecall`): the colour is the right one
  hue_recall_sectors: list[float]  # per 60-degree sector of the true hue

  def as_dict(self) -> dict[str, float]:
    return dataclasses.asdict(self)




@dataclasses.dataclass
class Truth:
  """What `evaluate` needs from one coloured ground-truth image, computed once for many predictions."""
  index: int
  lab: np.ndarray
  rgb: np.ndarray
  psnr_gray: float
  colourfulness: float


def prepare(lab_true: list[np.ndarray]) -> list[Truth]:
  """The coloured images of an evaluation set with their sRGB truth, gray PSNR and colourfulness."""
  truths = []
  for i, lab in enumerate(lab_true):
    if not is_coloured(lab):
      continue
    rgb = colorspace.lab_to_rgb8(lab)
    gray = colorspace.lab_to_rgb8(np.concatenate([lab[..., :1], np.zeros_like(lab[..., 1:])], axis=-1))
    truths.append(Truth(i, lab, rgb, psnr(gray, rgb), colourfulness(rgb)))
  return truths


def evaluate(lab_true: list[np.ndarray] | list[Truth], ab_pred: list[np.ndarray]) -> Report:
  """lab_true: [H, W, 3] float Lab per image (or `prepare`'s result for it); ab_pred: [H, W, 2] per image."""
  truths = lab_true if lab_true and isinstance(lab_true[0], Truth) else prepare(lab_true)
  psnrs, psnrs_gray, cf_pred, cf_true = [], [], [], []
  recall = HueRecall()
  for truth in truths:
    ab = ab_pred[truth.index]
    recall.add(truth.lab[..., 1:], ab)
    prediction = colorspace.lab_to_rgb8(np.concatenate([truth.lab[..., :1], ab], axis=-1))
    psnrs.append(psnr(prediction, truth.rgb))
    psnrs_gray.append(truth.psnr_gray)
    cf_pred.append(colourfulness(prediction))
    cf_true.append(truth.colourfulness)
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
      desaturation_rate=float(np.mean(cf_pred_arr < DESATURATION_RATIO * cf_true_arr)),
      hue_recall=recall.mean(), hue_recall_sectors=recall.sectors())


HUE_SECTORS = 6                # 60-degree sectors of the true hue
HUE_TRUE_CHROMA = 20.0         # a truly coloured pixel: chroma sqrt(a^2 + b^2) >= this
HUE_PREDICTED_CHROMA = 10.0    # the prediction colours a pixel: its chroma >= this
HUE_TOLERANCE_DEGREES = 30.0   # ... with a hue within this many degrees of the truth
INTERVAL_LEVEL = 0.9           # the benchmarks' bootstrap interval of the hue recall (`HueRecall.interval`)
INTERVAL_RESAMPLES = 1000


def hue_and_chroma(ab, xp=np):
  """Per pixel of ab [..., 2]: hue in degrees [0, 360) of atan2(b, a), and chroma sqrt(a^2 + b^2).

  `xp` is NumPy (ab flattened to pixels, float64) or `tf.experimental.numpy` (the training input pipeline's
  repeat sampling, ab's shape kept): one definition of hue for the metric and the sampler."""
  if xp is np:
    ab = np.asarray(ab, np.float64).reshape(-1, 2)
  a, b = ab[..., 0], ab[..., 1]
  return xp.arctan2(b, a) * (180.0 / np.pi) % 360.0, xp.sqrt(a * a + b * b)


def hue_sector(hue, xp=np):
  """The sector index (0 .. HUE_SECTORS - 1, int64) of hues in degrees [0, 360); `xp` as in `hue_and_chroma`."""
  return xp.minimum(xp.asarray(hue // (360.0 / HUE_SECTORS), dtype=xp.int64), HUE_SECTORS - 1)


class HueRecall:
  """Hue-balanced recall: is the colour *right*, not just present.

  Colourfulness, the desaturation rate and even rebalanced ab accuracy are fooled by a global tint (a constant
  sepia scores a colourfulness ratio near 0.5). Here the truly coloured pixels (chroma >= 20) are split by their
  true hue into six 60-degree sectors (0-60, 60-120, ... degrees of atan2(b, a)); in each sector, pooled over all
  images, recall is the share of those pixels whose prediction has chroma >= 10 and a hue within 30 degrees of the
  truth. The score is the mean over the sectors that have pixels. Gray scores 0, the truth 1, a constant tint
  can only score in the (at most two) sectors its hue is near.

  Accumulate images with `add`, then read `sectors()` and `mean()`.
  """

  def __init__(self):
    self.hits = np.zeros(HUE_SECTORS, np.int64)
    self.totals = np.zeros(HUE_SECTORS, np.int64)
    self._per_image: list[tuple[np.ndarray, np.ndarray]] = []  # (hits, totals) of each image, for `interval`

  def add(self, ab_true: np.ndarray, ab_pred: np.ndarray) -> None:
    hue_true, chroma_true = hue_and_chroma(ab_true)
    hue_pred, chroma_pred = hue_and_chroma(ab_pred)
    coloured = chroma_true >= HUE_TRUE_CHROMA
    hue_true, hue_pred, chroma_pred = hue_true[coloured], hue_pred[coloured], chroma_pred[coloured]
    difference = np.abs(hue_pred - hue_true)
    difference = np.minimum(difference, 360.0 - difference)
    hit = (chroma_pred >= HUE_PREDICTED_CHROMA) & (difference <= HUE_TOLERANCE_DEGREES)
    sector = hue_sector(hue_true)
    totals = np.bincount(sector, minlength=HUE_SECTORS).astype(np.int64)
    hits = np.bincount(sector, weights=hit, minlength=HUE_SECTORS).astype(np.int64)
    self.totals += totals
    self.hits += hits
    self._per_image.append((hits, totals))

  def sectors(self) -> list[float]:
    """Recall per sector (0-60, 60-120, ... degrees); NaN for a sector without truly coloured pixels."""
    return [float(h / t) if t else float('nan') for h, t in zip(self.hits, self.totals)]

  def mean(self) -> float:
    present = self.totals > 0
    return float(np.mean(self.hits[present] / self.totals[present])) if present.any() else float('nan')

  def interval(self, level: float = INTERVAL_LEVEL, resamples: int = INTERVAL_RESAMPLES,
               seed: int = 0) -> dict[str, list]:
    """Percentile-bootstrap interval over the images: {'hue_recall': [lo, hi], 'sectors': [[lo, hi] x 6]}.

    A sector can rest on a few photos (the eval split's cyan: 47 photos, ten of them hold 74% of its pixels), so
    its pooled recall moves a lot with which photos a split happens to hold; this is that spread. It does not
    include the spread between training runs of the same recipe, which comes on top.
    """
    hits = np.array([h for h, _ in self._per_image], np.float64).reshape(-1, HUE_SECTORS)
    totals = np.array([t for _, t in self._per_image], np.float64).reshape(-1, HUE_SECTORS)
    if not len(hits):
      raise ValueError('no image added')
    draws = np.random.default_rng(seed).integers(0, len(hits), size=(resamples, len(hits)))
    drawn_hits, drawn_totals = hits[draws].sum(axis=1), totals[draws].sum(axis=1)  # [resamples, sectors]
    with np.errstate(invalid='ignore', divide='ignore'):
      recall = np.where(drawn_totals > 0, drawn_hits / drawn_totals, np.nan)
    with warnings.catch_warnings():  # a sector no drawn image holds is NaN in that draw (mean over the others)
      warnings.simplefilter('ignore', RuntimeWarning)
      means = np.nanmean(recall, axis=1)
      tails = [50.0 * (1.0 - level), 50.0 * (1.0 + level)]
      sector_bounds = np.nanpercentile(recall, tails, axis=0).T  # [sectors, 2]; NaN where no draw has pixels
    return {'hue_recall': [float(b) for b in np.nanpercentile(means, tails)],
            'sectors': [[float(lo), float(hi)] for lo, hi in sector_bounds]}


def hue_recall_interval(ab_true: list[np.ndarray], ab_pred: list[np.ndarray], **kwargs) -> dict[str, list]:
  """`HueRecall.interval` over paired ab arrays [H, W, 2]."""
  recall = HueRecall()
  for truth, prediction in zip(ab_true, ab_pred):
    recall.add(truth, prediction)
  return recall.interval(**kwargs)


def hue_balanced_recall(ab_true: list[np.ndarray], ab_pred: list[np.ndarray]) -> tuple[float, list[float]]:
  """(mean, six sector recalls) of `HueRecall` over paired ab arrays [H, W, 2]."""
  recall = HueRecall()
  for truth, prediction in zip(ab_true, ab_pred):
    recall.add(truth, prediction)
  return recall.mean(), recall.sectors()


def rebalanced_ab_accuracy(ab_true: np.ndarray, ab_pred: np.ndarray, bin_frequency: np.ndarray,
                           thresholds: int = 151) -> float:
  """Zhang's AuC idea, rebalanced: mean over t = 0..150 of sum_p w_p [|ab_p - ab^_p| <= t], with
  w_p ∝ 1 / p(bin(ab_p)) (p from the evaluation set) and sum_p w_p = 1 per image. Returns a value in [0, 1].

  Unweighted accuracy does not separate a good model from no colour at all (gray scores ~0.92): rare, saturated
  colours weigh as much as the common near-gray ones here.
  """
  # Lazy: color_bins imports TensorFlow, and the NumPy metrics serve benchmarks and Beam workers without it.
  from trainer.objective import color_bins  # pylint: disable=g-import-not-at-top
  bins = color_bins.nearest_bin_numpy(ab_true.reshape(-1, 2))
  weights = 1.0 / np.maximum(bin_frequency[bins], 1e-12)
  weights /= weights.sum()
  error = np.linalg.norm((ab_true - ab_pred).reshape(-1, 2), axis=-1)
  ts = np.arange(thresholds)
  return float(np.mean([(weights * (error <= t)).sum() for t in ts]))


def bin_frequencies(labs: list[np.ndarray]) -> np.ndarray:
  """Empirical bin distribution p of an evaluation set's true ab (for `rebalanced_ab_accuracy`)."""
  # Lazy: color_bins imports TensorFlow, and the NumPy metrics serve benchmarks and Beam workers without it.
  from trainer.objective import color_bins  # pylint: disable=g-import-not-at-top
  histogram = color_bins.bin_histogram(lab[..., 1:] for lab in labs).astype(np.float64)
  return histogram / max(histogram.sum(), 1.0)
