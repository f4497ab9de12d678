"""The NumPy serving steps (`serving.numpy_graph`) against the SavedModel's own (`trainer.export`, TensorFlow)."""

import numpy as np
import pytest
import tensorflow as tf

from serving import numpy_graph
from trainer import export


@pytest.mark.parametrize('shape, size', [((300, 451), 128), ((128, 128), 128), ((37, 90), 128), ((1000, 7), 32)])
def test_area_resize_is_tensorflows(shape, size):
  plane = np.random.default_rng(0).uniform(0, 100, shape).astype(np.float32)
  expected = tf.image.resize(plane[None, :, :, None], (size, size), method='area')[0, :, :, 0].numpy()
  np.testing.assert_allclose(numpy_graph.area_resize(plane, size), expected, atol=2e-3)


@pytest.mark.parametrize('size, shape', [((128, 128), (300, 451)), ((128, 128), (90, 37)), ((32, 32), (32, 32))])
def test_bilinear_upsampling_and_recombination_are_the_serving_graphs(size, shape, monkeypatch):
  """Both in strips of a few rows (the strip edges are where an off-by-one would show)."""
  rng = np.random.default_rng(1)
  l = rng.uniform(0, 100, shape).astype(np.float32)
  ab = rng.uniform(-60, 60, size + (2,)).astype(np.float32)
  monkeypatch.setattr(numpy_graph, 'STRIP_PIXELS', 7 * shape[1])
  monkeypatch.setattr(export, 'STRIP_PIXELS', 5 * shape[1])
  got = numpy_graph.recombine(l, ab).astype(np.int32)
  expected = export.recombine(tf.constant(l[..., None]), tf.constant(ab)).numpy().astype(np.int32)
  assert np.abs(got - expected).max() <= 1 and (got != expected).mean() < 1e-3  # float32 order of operations
  up = tf.image.resize(ab[None], shape, method='bilinear')[0].numpy()
  rows = numpy_graph._lerp(ab, numpy_graph.bilinear_taps(size[0], shape[0]), axis=0)
  np.testing.assert_allclose(numpy_graph._lerp(rows, numpy_graph.bilinear_taps(size[1], shape[1]), axis=1), up,
                             atol=3e-3)  # float32 rounding of values up to 60


def test_luminance_is_the_serving_graphs(sample_rgb, monkeypatch):
  monkeypatch.setattr(numpy_graph, 'STRIP_PIXELS', 3 * sample_rgb[2].shape[1])
  got = numpy_graph.luminance(sample_rgb[2])
  np.testing.assert_allclose(got, export.luminance(tf.constant(sample_rgb[2])).numpy()[..., 0], atol=1e-3)
