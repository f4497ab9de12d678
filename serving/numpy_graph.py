"""The SavedModel's serving graph (`trainer/export.py`, `serving_default`) in NumPy, around a network core from any
runtime: what `serving/runtimes.py` runs with a TFLite or ONNX export, without TensorFlow.

    8-bit sRGB [H, W, 3] -> L [H, W] (`colorspace.rgb8_to_l`) -> area resize to the model's resolution S
    -> the core: L [1, S, S, 1] -> ab [1, S, S, 2] -> ab upsampled bilinearly to [H, W], recombined with the
    full-resolution L -> 8-bit sRGB (`colorspace.linear_to_srgb8`) -> PNG at zlib level 1

The resizes follow `tf.image.resize` exactly (`area`: each output pixel the mean of the input area it covers;
`bilinear`: half-pixel centres, clamped at the edges), and the full-resolution steps run strip by strip
(`STRIP_PIXELS`), as the graph's do, so memory stays flat on large photos. The colour conversion is
`contracts.colorspace`, the one implementation the dataset build and the graph use.
"""

from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image

from contracts import colorspace
from contracts import limits

STRIP_PIXELS = limits.SERVING_STRIP_PIXELS  # the serving graph's sizes (contracts/limits.py)
PNG_COMPRESSION = limits.SERVING_PNG_COMPRESSION


def _strips(height: int, width: int):
  rows = max(1, STRIP_PIXELS // max(width, 1))
  for start in range(0, height, rows):
    yield start, min(start + rows, height)


def luminance(rgb8: np.ndarray) -> np.ndarray:
  """uint8 sRGB [H, W, 3] -> L [H, W] float32 in [0, 100], strip by strip."""
  height, width = rgb8.shape[:2]
  l = np.empty((height, width), np.float32)
  for start, stop in _strips(height, width):
    l[start:stop] = colorspace.rgb8_to_l(rgb8[start:stop])[..., 0]
  return l


def area_weights(in_size: int, out_size: int) -> np.ndarray:
  """float32 [out_size, in_size]: row o averages the input pixels under [o, o + 1) * in_size / out_size, each
  weighted by its overlap (TensorFlow's `resize_area`, align_corners=False)."""
  scale = in_size / out_size
  edges = np.arange(out_size + 1, dtype=np.float64) * scale
  pixels = np.arange(in_size, dtype=np.float64)
  overlap = np.clip(np.minimum(edges[1:, None], pixels[None, :] + 1.0)
                    - np.maximum(edges[:-1, None], pixels[None, :]), 0.0, None)
  return (overlap / scale).astype(np.float32)


def area_resize(plane: np.ndarray, size: int) -> np.ndarray:
  """[H, W] -> [size, size] float32: `tf.image.resize(..., method='area')` of one plane."""
  height, width = plane.shape
  return area_weights(height, size) @ np.asarray(plane, np.float32) @ area_weights(width, size).T


def bilinear_taps(in_size: int, out_size: int, start: int = 0, stop: int | None = None):
  """(lower, upper, fraction) of output pixels [start, stop) when `in_size` samples are resized bilinearly to
  `out_size` as `tf.image.resize` does: output i samples input (i + 0.5) * in_size / out_size - 0.5, clamped to
  the edge samples."""
  i = np.arange(start, out_size if stop is None else stop, dtype=np.float64)
  source = (i + 0.5) * (in_size / out_size) - 0.5
  floor = np.floor(source)
  lower = np.clip(floor, 0, in_size - 1).astype(np.intp)
  upper = np.clip(floor + 1, 0, in_size - 1).astype(np.intp)
  return lower, upper, (source - floor).astype(np.float32)


def _lerp(values: np.ndarray, taps, axis: int) -> np.ndarray:
  lower, upper, fraction = taps
  shape = [1] * values.ndim
  shape[axis] = -1
  fraction = fraction.reshape(shape)
  low = np.take(values, lower, axis=axis)
  return low + (np.take(values, upper, axis=axis) - low) * fraction


def recombine(l: np.ndarray, ab_small: np.ndarray) -> np.ndarray:
  """Full-resolution L [H, W] + ab at the model's resolution [S, S, 2] -> uint8 sRGB [H, W, 3], strip by strip:
  ab upsampled bilinearly, Lab -> linear RGB (`colorspace.lab_to_linear_rgb`), then 8-bit sRGB by lookup."""
  height, width = l.shape
  ab_small = np.asarray(ab_small, np.float32)
  columns = bilinear_taps(ab_small.shape[1], width)
  rgb8 = np.empty((height, width, 3), np.uint8)
  for start, stop in _strips(height, width):
    ab_rows = _lerp(ab_small, bilinear_taps(ab_small.shape[0], height, start, stop), axis=0)  # [n, S, 2]
    ab = _lerp(ab_rows, columns, axis=1)  # [n, W, 2]
    lab = np.concatenate([l[start:stop, :, None], ab], axis=-1)
    rgb8[start:stop] = colorspace.linear_to_srgb8(colorspace.lab_to_linear_rgb(lab))
  return rgb8


def encode_png(rgb8: np.ndarray) -> bytes:
  """uint8 [H, W, 3] -> PNG bytes at zlib level `PNG_COMPRESSION`."""
  buffer = io.BytesIO()
  Image.fromarray(rgb8).save(buffer, format='PNG', compress_level=PNG_COMPRESSION)
  return buffer.getvalue()


def colorize(rgb8: np.ndarray, core: Callable[[np.ndarray], np.ndarray], size: int) -> bytes:
  """uint8 sRGB [H, W, 3] -> colorized PNG at [H, W]; `core` maps L float32 [1, S, S, 1] to ab [1, S, S, 2]."""
  l = luminance(rgb8)
  ab_small = core(area_resize(l, size)[None, :, :, None])[0]
  return encode_png(recombine(l, ab_small))
