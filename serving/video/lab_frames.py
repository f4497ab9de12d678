"""Frames to L and Lab back to frames, fast enough for film, always through `contracts.colorspace` (the one Lab
conversion): at 720p its NumPy path takes about 60 ms a frame each way, more than the model.

* In: an old film decodes to gray frames (R = G = B in every pixel, whatever the codec), whose L depends on the
  gray level alone, so it is read from the L of the 256 gray levels, computed once by `colorspace.rgb8_to_lab`:
  the same numbers, about 20 times faster. A colour frame takes the full conversion (and is a colour input).
* Out: `colorspace.lab_to_rgb` on its TensorFlow backend (the serving graph's), one call per batch on all cores.
"""

from __future__ import annotations

import functools

import numpy as np

from contracts import colorspace
from contracts import limits

_GRAY_LEVELS = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)


@functools.cache
def _gray_l() -> np.ndarray:
  return colorspace.rgb8_to_lab(_GRAY_LEVELS)[:, 0].astype(np.float32)


def is_gray(rgb: np.ndarray) -> bool:
  return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


def luminance(rgb: np.ndarray) -> tuple[np.ndarray, bool]:
  """uint8 sRGB frames [N, H, W, 3] -> (float32 L [N, H, W], whether they are in colour: `limits.is_colour_lab`)."""
  if is_gray(rgb):
    return _gray_l()[rgb[..., 0]], False
  lab = colorspace.rgb8_to_lab(rgb)
  return np.ascontiguousarray(lab[..., 0]), limits.is_colour_lab(lab)


@functools.cache
def _to_rgb8_graph():
  # Lazy: TensorFlow only for the SavedModel path; the consistency step is NumPy/OpenCV.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  backend = colorspace.tensorflow_backend()

  @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
  def to_rgb8(lab):
    return tf.cast(tf.clip_by_value(tf.round(colorspace.lab_to_rgb(lab, backend) * 255.0), 0.0, 255.0), tf.uint8)

  return to_rgb8


def to_rgb8(lab: np.ndarray) -> np.ndarray:
  """float Lab frames [N, H, W, 3] -> uint8 sRGB [N, H, W, 3] (rounded, out-of-gamut colours clipped)."""
  return _to_rgb8_graph()(np.asarray(lab, np.float32)).numpy()
