"""contracts.strips: the one gray | prediction | original renderer (TensorBoard, colorize --compare, the report)."""

import numpy as np
import pytest

from contracts import colorspace
from contracts import strips


def _lab(rng, shape):
  return colorspace.rgb8_to_lab(rng.integers(0, 256, shape + (3,), dtype=np.uint8))


def test_panels_are_gray_prediction_original():
  rng = np.random.default_rng(0)
  truth, other = _lab(rng, (6, 5)), _lab(rng, (6, 5))
  strip = strips.gray_prediction_original(truth[..., 0], other[..., 1:], truth[..., 1:])
  assert strip.shape == (6, 15, 3) and strip.dtype == np.uint8
  gray, prediction, original = strip[:, :5], strip[:, 5:10], strip[:, 10:]
  assert (gray == gray[..., :1]).all()  # ab = 0: neutral gray
  expected_gray = colorspace.lab_to_rgb8(np.concatenate([truth[..., :1], np.zeros((6, 5, 2))], -1))
  np.testing.assert_array_equal(gray, expected_gray)
  np.testing.assert_array_equal(
      prediction, colorspace.lab_to_rgb8(np.concatenate([truth[..., :1], other[..., 1:]], -1)))
  np.testing.assert_array_equal(original, colorspace.lab_to_rgb8(truth))


def test_batches_and_no_original():
  rng = np.random.default_rng(1)
  lab = _lab(rng, (3, 4, 7))
  batch = strips.gray_prediction_original(lab[..., :1], lab[..., 1:], lab[..., 1:])
  assert batch.shape == (3, 4, 21, 3)
  np.testing.assert_array_equal(batch[1], strips.gray_prediction_original(lab[1, ..., 0], lab[1, ..., 1:],
                                                                          lab[1, ..., 1:]))
  two = strips.gray_prediction_original(lab[..., :1], lab[..., 1:])
  np.testing.assert_array_equal(two, batch[..., :14, :])


def test_mismatched_shapes_are_an_error():
  with pytest.raises(ValueError, match='expected L'):
    strips.gray_prediction_original(np.zeros((4, 4)), np.zeros((4, 5, 2)))
