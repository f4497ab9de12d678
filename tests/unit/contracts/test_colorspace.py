"""The single Lab implementation against an independent reference (scikit-image) and against itself in TF."""

import numpy as np
from PIL import Image
import pytest
from skimage import color

from contracts import colorspace


def delta_e(lab1, lab2):
  return np.sqrt(((np.asarray(lab1, np.float64) - lab2) ** 2).sum(-1))


# The README's figure: within 0.0002 ΔE of scikit-image (measured: 1.95e-4 at most over all 2^24 8-bit colours,
# 1.8e-4 on float colours; the residue is float32 arithmetic and the order of operations).
MAX_DELTA_E = 2e-4


def test_random_colours_match_scikit_image():
  rng = np.random.default_rng(0)
  rgb8 = rng.integers(0, 256, (1000, 1000, 3), dtype=np.uint8)  # a million 8-bit colours (the dataset's path)
  assert delta_e(colorspace.rgb8_to_lab(rgb8), color.rgb2lab(rgb8)).max() < MAX_DELTA_E
  rgb = rng.random((1000000, 3))
  assert delta_e(colorspace.rgb_to_lab(rgb), color.rgb2lab(rgb[None])[0]).max() < MAX_DELTA_E


def test_real_photos_match_scikit_image(sample_rgb):
  for rgb8 in sample_rgb:
    assert delta_e(colorspace.rgb8_to_lab(rgb8), color.rgb2lab(rgb8)).max() < MAX_DELTA_E


def test_lab_to_rgb_matches_scikit_image():
  # In-gamut Lab colours (out of gamut, the two libraries clip at different stages, both legitimately).
  rng = np.random.default_rng(1)
  lab = color.rgb2lab(rng.random((1, 1000000, 3)))[0]
  ours = colorspace.lab_to_rgb(lab)
  theirs = color.lab2rgb(lab[None])[0]
  assert np.abs(ours - theirs).max() * 255 < 1e-3  # a thousandth of an 8-bit level (measured 4.3e-4)


def test_round_trip_is_exact_in_8_bits(sample_rgb):
  rng = np.random.default_rng(2)
  for rgb8 in [rng.integers(0, 256, (1000, 1000, 3), dtype=np.uint8)] + sample_rgb:
    np.testing.assert_array_equal(colorspace.lab_to_rgb8(colorspace.rgb8_to_lab(rgb8)), rgb8)


def test_known_values():
  lab = colorspace.rgb8_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]], np.uint8))
  np.testing.assert_allclose(lab[0], [100, 0, 0], atol=0.01)
  np.testing.assert_allclose(lab[1], [0, 0, 0], atol=0.01)
  np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.05)


def test_tensorflow_backend_computes_the_same(sample_rgb):
  import tensorflow as tf
  backend = colorspace.tensorflow_backend()
  rgb8 = sample_rgb[0]
  lab_tf = colorspace.rgb_to_lab(tf.constant(rgb8 / 255.0, tf.float32), backend).numpy()
  lab_np = colorspace.rgb8_to_lab(rgb8)
  assert np.abs(lab_tf - lab_np).max() < 1e-3
  rgb_tf = colorspace.lab_to_rgb(tf.constant(lab_np), backend).numpy()
  assert np.abs(rgb_tf * 255 - rgb8).max() < 1.0


def test_lab_table_equals_convert_then_quantize(sample_rgb):
  """The dataset build's 2^24-entry table returns exactly what the formulas + quantization give."""
  from contracts import lab_table
  from contracts import schema
  rng = np.random.default_rng(3)
  for rgb8 in [rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)] + sample_rgb[:3]:
    expected = schema.quantize_lab_planes(colorspace.rgb8_to_lab_planes(rgb8))
    np.testing.assert_array_equal(lab_table.rgb8_to_quantized_lab_planes(rgb8), expected)
    # The job's path: straight from a PIL image's RGBX bytes.
    np.testing.assert_array_equal(lab_table.rgb8_to_quantized_lab_planes(Image.fromarray(rgb8)), expected)


def test_lab_table_is_built_when_no_cache(tmp_path, monkeypatch):
  from contracts import lab_table
  monkeypatch.setenv('COLORIZE_CACHE_DIR', str(tmp_path))
  built = lab_table._load_or_build()  # pylint: disable=protected-access
  assert built.shape == (1 << 24, 4)
  assert (tmp_path / f'srgb8_to_lab_rgbx_{lab_table._VERSION}.npy').exists()  # pylint: disable=protected-access
  white = (255 << 16) | (255 << 8) | 255
  assert tuple(built[white]) == (255, 128, 128, 0)  # L=100, a=b=0


def test_the_l_only_path_is_the_l_of_the_full_conversion(sample_rgb):
  import tensorflow as tf
  rgb8 = sample_rgb[0]
  linear = colorspace.SRGB8_TO_LINEAR[rgb8]
  expected = colorspace.rgb8_to_lab(rgb8)[..., :1]
  assert np.abs(colorspace.linear_rgb_to_l(linear) - expected).max() < 1e-4
  l_tf = colorspace.linear_rgb_to_l(tf.constant(linear), colorspace.tensorflow_backend()).numpy()
  assert l_tf.shape == expected.shape and np.abs(l_tf - expected).max() < 1e-3


def test_the_8_bit_output_tables_round_like_the_formula():
  """`linear_to_srgb8_tf` (two lookups) against round(255 * linear_to_srgb(x)) in float64: the same level except
  for values within float32 rounding of a threshold, and never more than one level off."""
  x = np.concatenate([np.random.default_rng(0).random(2_000_000) ** 3, np.linspace(-0.1, 1.1, 500_001),
                      colorspace.srgb_to_linear(np.arange(256) / 255.0)]).astype(np.float32)
  exact = np.rint(colorspace.linear_to_srgb(x.astype(np.float64)) * 255.0)
  got = colorspace.linear_to_srgb8_tf(x).numpy().astype(np.float64)
  assert np.abs(got - exact).max() <= 1.0
  assert (got != exact).mean() < 1e-5
  assert got[-256:].tolist() == list(range(256))  # every level's own linear value maps back to it


def test_the_numpy_8_bit_output_is_the_tensorflow_one():
  """`linear_to_srgb8` (NumPy) gives exactly `linear_to_srgb8_tf`'s levels, out-of-range values included."""
  x = np.concatenate([np.random.default_rng(1).random(1_000_000) ** 3, np.linspace(-0.1, 1.1, 100_001),
                      colorspace.srgb_to_linear(np.arange(256) / 255.0)]).astype(np.float32)
  got = colorspace.linear_to_srgb8(x)
  assert got.dtype == np.uint8
  np.testing.assert_array_equal(got, colorspace.linear_to_srgb8_tf(x).numpy())
  assert got[-256:].tolist() == list(range(256))


def test_rgb8_to_l_is_the_l_of_the_full_conversion(sample_rgb):
  rgb8 = sample_rgb[1]
  l = colorspace.rgb8_to_l(rgb8)
  assert l.shape == rgb8.shape[:2] + (1,) and l.dtype == np.float32
  assert np.abs(l - colorspace.rgb8_to_lab(rgb8)[..., :1]).max() < 1e-4
  with pytest.raises(TypeError, match='uint8'):
    colorspace.rgb8_to_l(rgb8.astype(np.float32))
