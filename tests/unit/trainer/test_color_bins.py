"""Zhang et al.'s classification machinery: the bins, soft targets, rebalancing, the loss and annealed-mean decoding."""

import numpy as np
import pytest
import tensorflow as tf

from contracts import colorspace
from contracts import lab_table
from trainer.objective import color_bins

FREQUENT = (0.0, 0.0)     # gray: most pixels of most photos
RARE = (60.0, 60.0)       # saturated orange
BLUE = (20.0, -60.0)


@pytest.fixture(scope='module')
def centers():
  return color_bins.ab_bin_centers()


@pytest.fixture(scope='module')
def srgb_ab():
  """Every distinct quantized (a, b) that an 8-bit sRGB colour has, int [N, 2]."""
  lut = lab_table.table()
  seen = np.flatnonzero(np.bincount((lut[1].astype(np.int32) << 8) | lut[2], minlength=1 << 16))
  return np.stack(np.divmod(seen, 256), axis=-1) - 128


def _index(centers, ab):
  return int(np.flatnonzero((centers == np.asarray(ab, np.float32)).all(-1))[0])


def _photo_like_histogram(centers):
  """Many gray pixels, a few orange ones, a trace of everything else."""
  return np.bincount([_index(centers, FREQUENT)] * 10_000 + [_index(centers, RARE)] * 50 + list(range(len(centers))),
                     minlength=len(centers))


def test_bins_are_the_in_gamut_lattice(centers, srgb_ab):
  assert 250 <= len(centers) <= 330
  assert color_bins.ab_bin_centers() is centers  # cached
  assert np.all(centers % color_bins.GRID == 0)
  assert len(np.unique(centers, axis=0)) == len(centers)
  assert np.array_equal(np.lexsort((centers[:, 1], centers[:, 0])), np.arange(len(centers)))
  # Every centre is the nearest bin of some 8-bit colour, and every colour lies inside its bin's cell.
  hits = color_bins.bin_histogram([srgb_ab.astype(np.float32)], centers)
  assert hits.min() > 0
  nearest = centers[color_bins.nearest_bin_numpy(srgb_ab, centers)]
  assert np.abs(srgb_ab - nearest).max() <= color_bins.GRID / 2


def test_bins_hold_unquantized_colours_too(centers):
  # Independent of the table: float Lab of random sRGB colours is within half a cell (plus rounding) of a bin.
  rgb = np.random.default_rng(0).random((20_000, 3))
  ab = colorspace.rgb_to_lab(rgb)[:, 1:]
  assert np.abs(ab - centers[color_bins.nearest_bin_numpy(ab, centers)]).max() <= color_bins.GRID / 2 + 0.5


def test_tf_and_numpy_agree_on_every_storable_ab_including_ties(centers):
  a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128), indexing='ij')
  ab = np.stack([a, b], axis=-1).astype(np.float32)
  np.testing.assert_array_equal(color_bins.nearest_bin(ab, centers).numpy(),
                                color_bins.nearest_bin_numpy(ab, centers))


def test_soft_encode(centers):
  rng = np.random.default_rng(1)
  ab = colorspace.rgb_to_lab(rng.random((2, 3, 50, 3)))[..., 1:].astype(np.float32)
  target = color_bins.soft_encode(ab, centers).numpy()
  assert target.shape == (2, 3, 50, len(centers))
  np.testing.assert_allclose(target.sum(-1), 1.0, atol=1e-5)
  assert np.all((target > 0).sum(-1) == color_bins.NEIGHBORS)
  np.testing.assert_array_equal(target.argmax(-1), color_bins.nearest_bin_numpy(ab, centers))
  # The weights are the normalized Gaussian of the distances (sigma 5).
  one, = color_bins.soft_encode(ab[0, 0, :1], centers).numpy()
  d2 = ((centers - ab[0, 0, 0]) ** 2).sum(-1)
  nearest = np.argsort(d2, kind='stable')[:color_bins.NEIGHBORS]
  expected = np.exp(-d2[nearest] / (2 * color_bins.SIGMA ** 2))
  np.testing.assert_allclose(one[nearest], expected / expected.sum(), rtol=1e-4)


def test_soft_encode_far_outside_the_gamut_is_finite(centers):
  target = color_bins.soft_encode(np.array([[127.0, -128.0], [-128.0, -128.0]], np.float32), centers).numpy()
  assert np.all(np.isfinite(target))
  np.testing.assert_allclose(target.sum(-1), 1.0, atol=1e-5)


def test_bin_histogram_masks_and_float_path(centers):
  ab = np.zeros((2, 4, 4, 2), np.float32)
  ab[:, :2] = RARE
  mask = np.ones((2, 4, 4, 1), np.float32)
  mask[:, :1] = 0  # half of the orange pixels are padding
  hist = color_bins.bin_histogram([(ab, mask), ab[:1]], centers)
  assert hist.sum() == 24 + 16
  assert hist[_index(centers, RARE)] == 8 + 8 and hist[_index(centers, FREQUENT)] == 16 + 8
  # Non-integer ab take the exact nearest-centre path and land in the same bins.
  np.testing.assert_array_equal(color_bins.bin_histogram([(ab + 0.3, mask), ab[:1] - 0.3], centers), hist)


def test_rebalancing_weights(centers):
  hist = _photo_like_histogram(centers)
  weights = color_bins.rebalancing_weights(hist, centers=centers)
  p = color_bins.bin_distribution(hist, centers=centers)
  assert weights.shape == (len(centers),) and weights.dtype == np.float32
  assert np.sum(p * weights) == pytest.approx(1.0, abs=1e-5)
  assert weights[_index(centers, RARE)] > 3 * weights[_index(centers, FREQUENT)]
  # Smoothing spreads the gray mass to its neighbours, so they are down-weighted too.
  assert weights[_index(centers, (10.0, 0.0))] < weights[_index(centers, (50.0, 60.0))]
  # lam = 1 switches rebalancing off.
  np.testing.assert_allclose(color_bins.rebalancing_weights(hist, lam=1.0, centers=centers), 1.0, rtol=1e-5)


def test_rebalancing_strength_softens_the_weights(centers):
  """strength s: w^s renormalized (the regression losses' knob); 0 = every bin 1, 1 = Zhang's weights."""
  hist = _photo_like_histogram(centers)
  p = color_bins.bin_distribution(hist, centers=centers)
  full = color_bins.rebalancing_weights(hist, centers=centers)
  half = color_bins.rebalancing_weights(hist, centers=centers, strength=0.5)
  np.testing.assert_allclose(color_bins.rebalancing_weights(hist, centers=centers, strength=0.0), 1.0, rtol=1e-5)
  np.testing.assert_allclose(color_bins.rebalancing_weights(hist, centers=centers, strength=1.0), full, rtol=1e-6)
  assert np.sum(p * half) == pytest.approx(1.0, abs=1e-5)
  np.testing.assert_allclose(half / half[0], np.sqrt(full / full[0]), rtol=1e-4)
  rare, frequent = _index(centers, RARE), _index(centers, FREQUENT)
  assert 1.0 < half[rare] / half[frequent] < full[rare] / full[frequent]


def _one_hot_logits(centers, ab, peak=20.0):
  """Logits [..., Q] peaked at the nearest bin of each ab."""
  return peak * tf.one_hot(color_bins.nearest_bin_numpy(ab, centers), len(centers))


def test_classification_loss(centers):
  rng = np.random.default_rng(2)
  ab = colorspace.rgb_to_lab(rng.random((2, 4, 4, 3)))[..., 1:].astype(np.float32)
  scaled = ab / 128.0
  mask = np.ones((2, 4, 4, 1), np.float32)
  weights = color_bins.rebalancing_weights(_photo_like_histogram(centers), centers=centers)
  uniform = tf.zeros((2, 4, 4, len(centers)))
  peaked = tf.math.log(color_bins.soft_encode(ab, centers) + 1e-4)  # the true bins' soft target, in logits
  for w in (None, weights):
    good = color_bins.classification_loss(scaled, peaked, mask, w, centers).numpy()
    bad = color_bins.classification_loss(scaled, uniform, mask, w, centers).numpy()
    assert good.shape == (2,) and np.all(good < bad)
  # Without rebalancing, uniform logits cost exactly log Q (the soft target sums to 1).
  np.testing.assert_allclose(color_bins.classification_loss(scaled, uniform, mask, None, centers),
                             np.log(len(centers)), rtol=1e-5)


def test_classification_loss_ignores_masked_pixels(centers):
  rng = np.random.default_rng(3)
  ab = colorspace.rgb_to_lab(rng.random((2, 4, 4, 3)))[..., 1:].astype(np.float32)
  logits = rng.normal(size=(2, 4, 4, len(centers))).astype(np.float32)
  mask = np.ones((2, 4, 4, 1), np.float32)
  mask[:, :, 2:] = 0
  weights = color_bins.rebalancing_weights(_photo_like_histogram(centers), centers=centers)
  loss = color_bins.classification_loss(ab / 128.0, logits, mask, weights, centers).numpy()
  ab[:, :, 2:] = np.nan  # padding may hold anything
  logits[:, :, 2:] = rng.normal(size=(2, 4, 2, len(centers))) * 100
  changed = color_bins.classification_loss(ab / 128.0, logits, mask, weights, centers).numpy()
  np.testing.assert_allclose(changed, loss, rtol=1e-6)
  cropped = color_bins.classification_loss(ab[:, :, :2] / 128.0, logits[:, :, :2], mask[:, :, :2], weights, centers)
  np.testing.assert_allclose(cropped, loss, rtol=1e-6)


def test_rebalancing_makes_rare_colours_costlier(centers):
  weights = color_bins.rebalancing_weights(_photo_like_histogram(centers), centers=centers)
  ab = np.zeros((2, 4, 4, 2), np.float32)
  ab[0], ab[1] = RARE, FREQUENT
  wrong = _one_hot_logits(centers, np.full((2, 4, 4, 2), BLUE, np.float32))  # both confidently blue
  mask = np.ones((2, 4, 4, 1), np.float32)
  plain = color_bins.classification_loss(ab / 128.0, wrong, mask, None, centers).numpy()
  rebalanced = color_bins.classification_loss(ab / 128.0, wrong, mask, weights, centers).numpy()
  assert plain[0] == pytest.approx(plain[1], rel=1e-3)  # the same mistake, unweighted
  assert rebalanced[0] > 3 * rebalanced[1]


def test_loss_compiles_with_xla_and_has_gradients(centers):
  rng = np.random.default_rng(4)
  scaled = (colorspace.rgb_to_lab(rng.random((2, 8, 8, 3)))[..., 1:] / 128.0).astype(np.float32)
  mask = np.ones((2, 8, 8, 1), np.float32)
  weights = color_bins.rebalancing_weights(_photo_like_histogram(centers), centers=centers)
  logits = tf.Variable(rng.normal(size=(2, 8, 8, len(centers))).astype(np.float32))

  @tf.function(jit_compile=True)
  def loss_and_gradient():
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(color_bins.classification_loss(scaled, logits, mask, weights, centers))
    return loss, tape.gradient(loss, logits)

  loss, gradient = loss_and_gradient()
  eager = tf.reduce_sum(color_bins.classification_loss(scaled, logits, mask, weights, centers))
  assert float(loss) == pytest.approx(float(eager), rel=1e-5)
  assert np.all(np.isfinite(gradient.numpy())) and np.abs(gradient.numpy()).sum() > 0


def test_annealed_mean_of_a_peak_is_its_centre(centers):
  logits = 50.0 * tf.one_hot([_index(centers, RARE), _index(centers, BLUE)], len(centers))
  for t in (color_bins.TEMPERATURE, 1.0):
    np.testing.assert_allclose(color_bins.annealed_mean(logits, centers, t), [RARE, BLUE], atol=1e-3)


def test_annealed_mean_fixes_the_brown_problem(centers):
  # Grass green or a red car: 60 / 40.
  green, red = np.array([-50.0, 50.0]), np.array([60.0, 40.0])
  bump = lambda m: np.exp(-((centers - m) ** 2).sum(-1) / (2 * 8.0 ** 2))
  p = 0.6 * bump(green) / bump(green).sum() + 0.4 * bump(red) / bump(red).sum()
  logits = tf.constant(np.log(p), tf.float32)
  plain = color_bins.annealed_mean(logits, centers, 1.0).numpy()
  annealed = color_bins.annealed_mean(logits, centers, color_bins.TEMPERATURE).numpy()
  mode = color_bins.annealed_mean(logits, centers, 0.01).numpy()
  np.testing.assert_allclose(plain, p @ centers, atol=1e-3)  # T = 1: the plain mean
  chroma = lambda ab: np.hypot(*ab)
  assert chroma(plain) < 0.7 * min(chroma(green), chroma(red))  # between the modes, desaturated: brown
  assert np.linalg.norm(annealed - green) < 0.7 * np.linalg.norm(plain - green)  # toward the stronger mode
  assert chroma(annealed) > chroma(plain)
  np.testing.assert_allclose(mode, green, atol=1.0)  # T -> 0: the mode


def test_prior_correction_lets_the_rare_colour_win_where_the_network_hesitates(centers):
  """The decoding-time prior correction multiplies the predicted distribution by w^s (w: rebalancing weights)."""
  hist = _photo_like_histogram(centers)
  weights = color_bins.rebalancing_weights(hist, centers=centers)
  rare, frequent = _index(centers, RARE), _index(centers, FREQUENT)
  # The network hesitates: 60% gray (common), 40% orange (rare).
  p = np.full(len(centers), 1e-6)
  p[frequent], p[rare] = 0.6, 0.4
  logits = tf.constant(np.log(p / p.sum()), tf.float32)
  mode = lambda s: color_bins.annealed_mean(logits, centers, 0.05, color_bins.prior_logit_bias(weights, s)).numpy()
  np.testing.assert_allclose(mode(0.0), FREQUENT, atol=1.0)  # no correction: the common colour
  np.testing.assert_allclose(mode(1.0), RARE, atol=1.0)      # corrected: the rare one wins
  np.testing.assert_array_equal(color_bins.prior_logit_bias(weights, 0.0), 0.0)
  # Exactly w^s: the distribution behind the corrected mean at T = 1.
  s = 0.5
  corrected = p * weights.astype(np.float64) ** s
  np.testing.assert_allclose(color_bins.annealed_mean(logits, centers, 1.0, color_bins.prior_logit_bias(weights, s)),
                             corrected @ centers / corrected.sum(), atol=1e-3)
