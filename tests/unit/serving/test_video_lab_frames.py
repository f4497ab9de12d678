"""The video path's L and Lab -> RGB are `contracts.colorspace`'s numbers: gray frames through the 256 gray levels'
L (exactly), colour frames and the way back through the same formulas (TensorFlow backend: within one level)."""

import numpy as np

from contracts import colorspace
from serving.video import lab_frames


def test_gray_frames_take_exactly_the_conversions_l():
  levels = np.random.default_rng(0).integers(0, 256, (2, 40, 30), dtype=np.uint8)
  gray = np.repeat(levels[..., None], 3, axis=-1)
  l, colour = lab_frames.luminance(gray)
  assert not colour and l.dtype == np.float32
  np.testing.assert_array_equal(l, colorspace.rgb8_to_lab(gray)[..., 0])


def test_colour_frames_are_converted_whole_and_said_to_be_colour():
  rgb = np.random.default_rng(1).integers(0, 256, (2, 20, 30, 3), dtype=np.uint8)
  l, colour = lab_frames.luminance(rgb)
  assert colour
  np.testing.assert_array_equal(l, colorspace.rgb8_to_lab(rgb)[..., 0])


def test_back_to_rgb_matches_the_numpy_conversion():
  rgb = np.random.default_rng(2).integers(0, 256, (3, 24, 32, 3), dtype=np.uint8)
  lab = colorspace.rgb8_to_lab(rgb)
  lab[..., 1:] *= 1.3  # some out of gamut: clipped alike
  out = lab_frames.to_rgb8(lab)
  assert out.dtype == np.uint8 and out.shape == rgb.shape
  assert np.abs(out.astype(int) - colorspace.lab_to_rgb8(lab).astype(int)).max() <= 1
