"""Zhang et al.'s colour classification: ab bins, soft targets, class rebalancing, annealed-mean decoding.

Regressing ab with MSE averages the plausible colours of an object into brown or gray. Zhang, Isola and Efros
("Colorful Image Colorization", ECCV 2016) instead predict a distribution over quantized ab bins:

  * the bins are the cells of a grid-10 lattice that 8-bit sRGB colours can reach (`ab_bin_centers`);
  * each target pixel is soft-encoded over its 5 nearest bins with a Gaussian, sigma 5 (`soft_encode`);
  * the cross-entropy is reweighted per pixel by the rarity of its colour (`rebalancing_weights`), so the few
    saturated pixels are not drowned by sky, walls and skin;
  * a prediction is decoded with the annealed mean, softmax(logits / T) with T = 0.38 (`annealed_mean`): vivid
    like the mode, spatially smooth like the mean.

Bins of our lattice: Q = 264. A centre c covers the half-open cell (c - 5, c + 5] in a and in b, and is kept when
that cell holds the quantized (a, b) of at least one of the 2^24 8-bit sRGB colours (`lab_table`: integer a, b,
exactly what the records store). The extents match Zhang's 313 bins (a in [-90, 100], b in [-110, 90]); his set
has ~50 more bins along the gamut's edge, from a gamut criterion that is not published. Bins no sRGB colour maps
to would never be a nearest bin, so dropping them loses nothing.

Nearest-bin ties (an integer a or b exactly halfway between two centres, common since the records store integer
ab) go to the lower index, which is how `np.argmin` and `tf.math.top_k` break ties; with the centres sorted
ascending that is the lower centre, the same choice as the cells' (c - 5, c + 5] convention. So every bin is the
nearest bin of some sRGB colour and the NumPy histogram and the TF loss agree on every stored pixel.
"""

from __future__ import annotations

import threading
from typing import Iterable

import numpy as np
import tensorflow as tf

from contracts import schema
from trainer import scaling

GRID = 10
NEIGHBORS = 5
SIGMA = 5.0
LAMBDA = 0.5
TEMPERATURE = 0.38

_lock = threading.RLock()
_centers: dict[int, np.ndarray] = {}
_pair_bins: dict[bytes, np.ndarray] = {}
_AB_OFFSET = int(schema.AB_OFFSET)  # quantized ab planes store round(ab) + AB_OFFSET in [0, 255] (contracts.schema)


def _in_gamut_centers(grid: int) -> np.ndarray:
  """Centres of the grid cells that hold the quantized ab of at least one 8-bit sRGB colour."""
  from contracts import lab_table  # pylint: disable=g-import-not-at-top  (48 MB table, only needed once)
  lut = lab_table.table()
  seen = np.bincount((lut[1].astype(np.int32) << 8) | lut[2], minlength=1 << 16)
  a_q, b_q = np.divmod(np.flatnonzero(seen), 256)
  ab = np.stack([a_q, b_q], axis=-1) - _AB_OFFSET     # every distinct (a, b) of 8-bit sRGB, integers
  cells = np.ceil((ab - grid / 2) / grid).astype(np.int64)  # cell (c - g/2, c + g/2]: ties to the lower centre
  centers = (np.unique(cells, axis=0) * grid).astype(np.float32)  # lexicographic: by a, then b
  centers.setflags(write=False)
  return centers


def ab_bin_centers(grid: int = GRID) -> np.ndarray:
  """The in-gamut ab bins, float32 [Q, 2] (a, b), sorted by a then b; Q = 264 for grid 10. Cached, read-only."""
  with _lock:
    if grid not in _centers:
      _centers[grid] = _in_gamut_centers(grid)
    return _centers[grid]


# ---- NumPy: dataset statistics ---------------------------------------------------------------------------------


def nearest_bin_numpy(ab, centers: np.ndarray | None = None) -> np.ndarray:
  """ab [..., 2] -> int index of the nearest centre [...] (ties to the lower index, as `tf.math.top_k`)."""
  centers = np.asarray(ab_bin_centers() if centers is None else centers, np.float64)
  ab = np.asarray(ab, np.float64)
  flat = ab.reshape(-1, 2)
  out = np.empty(len(flat), np.int64)
  step = 8192  # bounds the [step, Q] distance block to ~17 MB
  for start in range(0, len(flat), step):
    chunk = flat[start:start + step]
    d2 = (chunk[:, None, 0] - centers[:, 0]) ** 2 + (chunk[:, None, 1] - centers[:, 1]) ** 2
    out[start:start + step] = np.argmin(d2, axis=1)
  return out.reshape(ab.shape[:-1])


def _bins_of_integer_pairs(centers: np.ndarray) -> np.ndarray:
  """Nearest bin of each of the 256 x 256 integer (a, b) the records can hold, flattened [65536]."""
  key = np.ascontiguousarray(centers, np.float32).tobytes()
  with _lock:
    if key not in _pair_bins:
      a, b = np.meshgrid(np.arange(256) - _AB_OFFSET, np.arange(256) - _AB_OFFSET, indexing='ij')
      _pair_bins[key] = nearest_bin_numpy(np.stack([a, b], axis=-1), centers).reshape(-1)
    return _pair_bins[key]


def bin_histogram(ab_batches: Iterable, centers: np.ndarray | None = None) -> np.ndarray:
  """Counts of nearest-bin hits over a data set, int64 [Q]: the input of `rebalancing_weights`.

  Args:
    ab_batches: Iterable of `ab` arrays [..., 2] in ab units, or of `(ab, mask)` pairs whose mask ([...] or
      [..., 1], nonzero = valid) excludes padding pixels.
    centers: The bins (default `ab_bin_centers()`).

  Returns:
    Counts per bin. Integer ab (what the records store) are counted through a 256 x 256 table, so a whole data set
    costs about one `np.bincount` per batch; other values fall back to an exact nearest-centre search.
  """
  centers = np.asarray(ab_bin_centers() if centers is None else centers, np.float32)
  pair_counts = np.zeros(1 << 16, np.int64)
  counts = np.zeros(len(centers), np.int64)
  for item in ab_batches:
    ab, mask = item if isinstance(item, tuple) else (item, None)
    ab = np.asarray(ab, np.float32).reshape(-1, 2)
    if mask is not None:
      ab = ab[np.asarray(mask).reshape(-1) != 0]
    rounded = np.rint(ab)
    if np.array_equal(ab, rounded) and rounded.min(initial=0) >= -_AB_OFFSET and rounded.max(initial=0) < _AB_OFFSET:
      q = rounded.astype(np.int64) + _AB_OFFSET
      pair_counts += np.bincount(q[:, 0] * 256 + q[:, 1], minlength=1 << 16)
    else:
      counts += np.bincount(nearest_bin_numpy(ab, centers), minlength=len(centers))
  counts += np.bincount(_bins_of_integer_pairs(centers), weights=pair_counts, minlength=len(centers)).astype(np.int64)
  return counts


def bin_distribution(histogram, sigma: float = SIGMA, centers: np.ndarray | None = None) -> np.ndarray:
  """The empirical bin distribution p, smoothed with a Gaussian over the ab plane (Zhang's sigma 5), float64 [Q]."""
  centers = np.asarray(ab_bin_centers() if centers is None else centers, np.float64)
  histogram = np.asarray(histogram, np.float64)
  if histogram.shape != (len(centers),) or histogram.sum() <= 0:
    raise ValueError(f'need a non-empty histogram of shape ({len(centers)},), got {histogram.shape}')
  d2 = ((centers[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
  p = np.exp(-d2 / (2.0 * sigma ** 2)) @ (histogram / histogram.sum())
  return p / p.sum()


def rebalancing_weights(histogram, lam: float = LAMBDA, sigma: float = SIGMA,
                        centers: np.ndarray | None = None, strength: float = 1.0) -> np.ndarray:
  """Zhang's class-rebalancing weights, float32 [Q]: w ∝ ((1 - lam) p + lam / Q)^-strength with sum(p * w) = 1.

  lam = 0 would fully equalize the bins (rare noise dominates); lam = 1 is no rebalancing. p is
  `bin_distribution(histogram, sigma)`. strength < 1 softens the weights (the regression losses' knob,
  `model.loss.regression_rebalancing`); 0 gives every bin weight 1.
  """
  p = bin_distribution(histogram, sigma, centers)
  w = (1.0 / ((1.0 - lam) * p + lam / len(p))) ** strength
  return (w / np.sum(p * w)).astype(np.float32)


# ---- TensorFlow: training and decoding -------------------------------------------------------------------------


def _nearest(ab, centers, neighbors: int, sigma: float):
  """ab [..., 2] -> Gaussian weights [..., k] (summing to 1) and indices [..., k] of the k nearest centres.

  Squared distances are written out as (a - ca)^2 + (b - cb)^2 rather than with the |x|^2 - 2 x.c + |c|^2 matmul
  trick: with an inner dimension of 2 a matmul saves nothing, and on GPUs TensorFloat-32 matmuls round ab to 10
  mantissa bits (distance errors of several ab^2 units). This form is exact for integer ab, so ties are exact too.
  """
  ab = tf.cast(ab, tf.float32)
  c = tf.constant(np.asarray(centers, np.float32))
  d2 = tf.square(ab[..., :1] - c[:, 0]) + tf.square(ab[..., 1:] - c[:, 1])  # [..., Q]
  neg_d2, indices = tf.math.top_k(-d2, k=neighbors)  # nearest first; ties to the lower index
  weights = tf.nn.softmax(neg_d2 / (2.0 * sigma ** 2), axis=-1)  # normalized Gaussian, stable when far
  return weights, indices


def soft_encode(ab, centers: np.ndarray | None = None, neighbors: int = NEIGHBORS, sigma: float = SIGMA):
  """ab [..., 2] in ab units -> soft targets [..., Q]: a Gaussian over the `neighbors` nearest bins, summing to 1."""
  centers = ab_bin_centers() if centers is None else centers
  weights, indices = _nearest(ab, centers, neighbors, sigma)
  num_bins = len(centers)
  flat_indices = tf.reshape(indices, [-1, neighbors])
  rows = tf.broadcast_to(tf.range(tf.shape(flat_indices)[0])[:, None], tf.shape(flat_indices))
  dense = tf.scatter_nd(tf.stack([rows, flat_indices], axis=-1), tf.reshape(weights, [-1, neighbors]),
                        tf.stack([tf.shape(flat_indices)[0], num_bins]))
  return tf.reshape(dense, tf.concat([tf.shape(indices)[:-1], [num_bins]], axis=0))


def nearest_bin(ab, centers: np.ndarray | None = None):
  """ab [..., 2] -> int32 index of the nearest bin [...] (same rule as `nearest_bin_numpy`)."""
  centers = ab_bin_centers() if centers is None else centers
  return _nearest(ab, centers, 1, SIGMA)[1][..., 0]


def classification_loss(ab_true_scaled, logits, mask, weights, centers: np.ndarray | None = None,
                        neighbors: int = NEIGHBORS, sigma: float = SIGMA):
  """Rebalanced soft cross-entropy per example [B], averaged over valid pixels (the `losses.py` contract).

  Args:
    ab_true_scaled: True ab / AB_SCALE [B, H, W, 2].
    logits: Bin logits [B, H, W, Q] (`build_colorizer(..., num_bins=Q)`).
    mask: [B, H, W, 1], 1 = valid pixel.
    weights: `rebalancing_weights` [Q]; each pixel's cross-entropy is scaled by the weight of its true nearest
      bin. None: no rebalancing.
    centers: The bins the logits index (default `ab_bin_centers()`).
    neighbors: Bins per soft target.
    sigma: Soft-encoding Gaussian width, ab units.

  Returns:
    [B] losses, for `tf.nn.compute_average_loss`.
  """
  centers = ab_bin_centers() if centers is None else centers
  ab_true = tf.cast(ab_true_scaled, tf.float32) * scaling.AB_SCALE
  target, indices = _nearest(ab_true, centers, neighbors, sigma)
  # Cross-entropy against the sparse soft target: only its k nonzero entries contribute.
  log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
  per_pixel = -tf.reduce_sum(target * tf.gather(log_probs, indices, batch_dims=len(indices.shape) - 1), axis=-1)
  if weights is not None:
    per_pixel *= tf.gather(tf.cast(weights, tf.float32), indices[..., 0])
  mask = tf.squeeze(tf.cast(mask, tf.float32), -1)
  per_pixel = tf.where(mask > 0, per_pixel, 0.0)  # whatever a padding pixel holds, even NaN, cannot leak in
  return tf.reduce_sum(per_pixel * mask, axis=[1, 2]) / tf.maximum(tf.reduce_sum(mask, axis=[1, 2]), 1.0)


def prior_logit_bias(weights, strength: float) -> np.ndarray:
  """strength x log(rebalancing weight), float32 [Q]: added to the logits before decoding (`annealed_mean`).

  It multiplies the predicted distribution by w^strength, the decoding-time counterpart of the training's class
  rebalancing (logit adjustment, Menon et al. 2021): bins that are rare in the training photos (green, cyan,
  purple) win the pixels where the network hesitates between them and the common browns. Bounded, because the
  weights are (`rebalancing_weights`' uniform mix); 0 decodes the network's distribution as it is.
  """
  return (strength * np.log(np.asarray(weights, np.float64))).astype(np.float32)


def annealed_mean(logits, centers: np.ndarray | None = None, temperature: float = TEMPERATURE, logit_bias=None):
  """Bin logits [..., Q] -> ab [..., 2] in ab units: the mean of softmax((logits + bias) / T) over the centres.

  T = 1 is the plain mean (desaturated: it averages a red and a green hypothesis to brown); T -> 0 is the mode
  (vivid but patchy); Zhang's T = 0.38 sits in between. `logit_bias` ([Q], `prior_logit_bias`) shifts the
  distribution towards rare colours first.
  """
  centers = ab_bin_centers() if centers is None else centers
  logits = tf.cast(logits, tf.float32)
  if logit_bias is not None:
    logits += tf.constant(np.asarray(logit_bias, np.float32))
  probs = tf.nn.softmax(logits / temperature, axis=-1)
  return tf.tensordot(probs, tf.constant(np.asarray(centers, np.float32)), axes=1)
