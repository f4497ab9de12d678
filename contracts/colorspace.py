"""sRGB <-> CIE Lab (D65), written once for NumPy (the Beam job) and TensorFlow (trainer and serving graph).

The formulas below are the only implementation of the colour conversion in the project. They are written against a
tiny backend of primitive operations (`NUMPY` or `tensorflow_backend()`), so the dataset build, the training input
pipeline and the exported serving signature compute exactly the same thing.

Conventions: sRGB in [0, 1] (float) or uint8; L in [0, 100]; a, b roughly in [-128, 127]; channels last.
Reference white D65 (X=0.95047, Y=1, Z=1.08883), the sRGB companding curve (IEC 61966-2-1), and the CIE 1976
definition of f(t) with epsilon = (6/29)^3 -- the same choices as scikit-image's `rgb2lab`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

# sRGB primaries -> CIE XYZ (D65), and its inverse (IEC 61966-2-1).
RGB_TO_XYZ = np.array([[0.412453, 0.357580, 0.180423],
                       [0.212671, 0.715160, 0.072169],
                       [0.019334, 0.119193, 0.950227]], dtype=np.float64)
XYZ_TO_RGB = np.linalg.inv(RGB_TO_XYZ)
D65_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)

_DELTA = 6.0 / 29.0
_EPSILON = _DELTA ** 3            # f(t) switches from the cube root to a line below this
_LINEAR_SLOPE = 1.0 / (3.0 * _DELTA ** 2)
_LINEAR_OFFSET = 4.0 / 29.0


@dataclasses.dataclass(frozen=True)
class Backend:
  """The primitive array operations the conversion needs."""
  where: Callable[..., Any]
  power: Callable[..., Any]
  cbrt: Callable[..., Any]
  maximum: Callable[..., Any]
  clip: Callable[..., Any]
  stack: Callable[..., Any]
  unstack: Callable[..., Any]
  matmul_last: Callable[..., Any]   # x[..., 3] @ m.T
  cast_float: Callable[..., Any]


NUMPY = Backend(
    where=np.where,
    power=np.power,
    cbrt=np.cbrt,
    maximum=np.maximum,
    clip=np.clip,
    stack=lambda xs: np.stack(xs, axis=-1),
    unstack=lambda x: [x[..., i] for i in range(x.shape[-1])],
    matmul_last=lambda x, m: x @ m.T.astype(x.dtype),
    cast_float=lambda x: np.asarray(x, dtype=np.float32),
)


def tensorflow_backend() -> Backend:
  """The TensorFlow backend (imported lazily so the Beam job's NumPy path does not need TF initialised)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return Backend(
      where=tf.where,
      power=tf.pow,
      cbrt=lambda x: tf.pow(x, 1.0 / 3.0),
      maximum=tf.maximum,
      clip=tf.clip_by_value,
      stack=lambda xs: tf.stack(xs, axis=-1),
      unstack=lambda x: tf.unstack(x, axis=-1),
      matmul_last=lambda x, m: tf.tensordot(x, tf.constant(m.T, dtype=x.dtype), axes=1),
      cast_float=lambda x: tf.cast(x, tf.float32),
  )


def srgb_to_linear(rgb, xp: Backend = NUMPY):
  """Undoes the sRGB companding curve; `rgb` in [0, 1]."""
  return xp.where(rgb <= 0.04045, rgb / 12.92, xp.power(xp.maximum(rgb + 0.055, 1e-8) / 1.055, 2.4))


def linear_to_srgb(linear, xp: Backend = NUMPY):
  """Applies the sRGB companding curve; output in [0, 1] (clipped)."""
  linear = xp.clip(linear, 0.0, 1.0)
  return xp.where(linear <= 0.0031308, 12.92 * linear,
                  1.055 * xp.power(xp.maximum(linear, 1e-8), 1.0 / 2.4) - 0.055)


def _f(t, xp: Backend):
  return xp.where(t > _EPSILON, xp.cbrt(xp.maximum(t, _EPSILON)), t * _LINEAR_SLOPE + _LINEAR_OFFSET)


def _f_inverse(f, xp: Backend):
  return xp.where(f > _DELTA, f * f * f, (f - _LINEAR_OFFSET) / _LINEAR_SLOPE)


def linear_rgb_to_lab(linear, xp: Backend = NUMPY):
  """Linear RGB [..., 3] -> Lab [..., 3] via XYZ (D65)."""
  xyz = xp.matmul_last(linear, RGB_TO_XYZ / D65_WHITE[:, None])
  fx, fy, fz = xp.unstack(_f(xyz, xp))
  return xp.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)])


def rgb_to_lab(rgb, xp: Backend = NUMPY):
  """sRGB in [0, 1] [..., 3] -> Lab [..., 3]."""
  return linear_rgb_to_lab(srgb_to_linear(rgb, xp), xp)


def linear_rgb_to_l(linear, xp: Backend = NUMPY):
  """Linear RGB [..., 3] -> L [..., 1]: the L channel of `linear_rgb_to_lab`, without computing a and b."""
  y = xp.matmul_last(linear, RGB_TO_XYZ[1:2] / D65_WHITE[1])
  return 116.0 * _f(y, xp) - 16.0


def lab_to_linear_rgb(lab, xp: Backend = NUMPY):
  """Lab [..., 3] -> linear RGB [..., 3] (not clipped: out-of-gamut colours leave [0, 1])."""
  l, a, b = xp.unstack(lab)
  fy = (l + 16.0) / 116.0
  f = xp.stack([fy + a / 500.0, fy, fy - b / 200.0])
  xyz = _f_inverse(f, xp)
  return xp.matmul_last(xyz, XYZ_TO_RGB * D65_WHITE[None, :])


def lab_to_rgb(lab, xp: Backend = NUMPY):
  """Lab [..., 3] -> sRGB in [0, 1] [..., 3] (out-of-gamut colours clipped)."""
  return linear_to_srgb(lab_to_linear_rgb(lab, xp), xp)


# uint8 fast path: the 256 possible linear values of an 8-bit sRGB channel, computed by the formula above.
SRGB8_TO_LINEAR = srgb_to_linear(np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)
_SRGB8_TO_LINEAR = SRGB8_TO_LINEAR

# The other way, linear -> 8-bit sRGB rounded, as two lookups instead of a power per channel: [0, 1] is cut into
# LINEAR_TO_SRGB8_BUCKETS equal buckets; each holds at most one of the 255 rounding thresholds (the narrowest gap
# between two of them, 1 / (255 * 12.92), is wider than a bucket), so the level is the bucket's level at its start
# plus one past the threshold: round(255 * linear_to_srgb(x)) with no table error (a value within float32 rounding
# of a threshold, about 3 in a million, may land one level off).
LINEAR_TO_SRGB8_BUCKETS = 4096


def _linear_to_srgb8_tables(buckets: int) -> tuple[np.ndarray, np.ndarray]:
  thresholds = srgb_to_linear((np.arange(1, 256, dtype=np.float64) - 0.5) / 255.0)  # level k from here on
  starts = np.arange(buckets, dtype=np.float64) / buckets
  base = np.searchsorted(thresholds, starts, side='right')  # the level at each bucket's start
  inside = np.minimum(base, 254)
  step = np.where((base < 255) & (thresholds[inside] < starts + 1.0 / buckets), thresholds[inside], 2.0)
  return base.astype(np.int32), step.astype(np.float32)


LINEAR_TO_SRGB8_BASE, LINEAR_TO_SRGB8_STEP = _linear_to_srgb8_tables(LINEAR_TO_SRGB8_BUCKETS)


def linear_to_srgb8_tf(linear):
  """float32 linear RGB (any shape; clipped to [0, 1]) -> uint8 sRGB levels, by the two tables above
  (TensorFlow: the serving graph's full-resolution output)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (lazy as in `tensorflow_backend`)
  x = tf.clip_by_value(linear, 0.0, 1.0)
  bucket = tf.minimum(tf.cast(x * LINEAR_TO_SRGB8_BUCKETS, tf.int32), LINEAR_TO_SRGB8_BUCKETS - 1)
  level = tf.gather(tf.constant(LINEAR_TO_SRGB8_BASE), bucket) + tf.cast(
      x >= tf.gather(tf.constant(LINEAR_TO_SRGB8_STEP), bucket), tf.int32)
  return tf.cast(level, tf.uint8)


def linear_to_srgb8(linear: np.ndarray) -> np.ndarray:
  """float32 linear RGB (any shape; clipped to [0, 1]) -> uint8 sRGB levels: `linear_to_srgb8_tf` in NumPy, the
  same two lookups, so both produce the same levels (the TFLite and ONNX serving path, `serving/numpy_graph.py`)."""
  x = np.clip(np.asarray(linear, np.float32), 0.0, 1.0)
  bucket = np.minimum((x * LINEAR_TO_SRGB8_BUCKETS).astype(np.int32), LINEAR_TO_SRGB8_BUCKETS - 1)
  level = LINEAR_TO_SRGB8_BASE[bucket] + (x >= LINEAR_TO_SRGB8_STEP[bucket])
  return level.astype(np.uint8)


def rgb8_to_l(rgb8: np.ndarray) -> np.ndarray:
  """uint8 sRGB [..., 3] -> float32 L [..., 1]: each level linearized by lookup (`SRGB8_TO_LINEAR`), L alone
  computed from them (`linear_rgb_to_l`), as the serving graph's `luminance` does in TensorFlow."""
  if rgb8.dtype != np.uint8:
    raise TypeError(f'rgb8_to_l expects uint8, got {rgb8.dtype}')
  return linear_rgb_to_l(_SRGB8_TO_LINEAR[rgb8])


# Channel-first variant of the NumPy backend: same formulas, Lab planes [3, ...] out (what the records store).
_NUMPY_PLANES_OUT = dataclasses.replace(NUMPY, stack=lambda xs: np.stack(xs, axis=0))


def rgb8_to_lab(rgb8: np.ndarray) -> np.ndarray:
  """uint8 sRGB [..., 3] -> float32 Lab [..., 3] (NumPy; the companding curve read from a 256-entry table)."""
  if rgb8.dtype != np.uint8:
    raise TypeError(f'rgb8_to_lab expects uint8, got {rgb8.dtype}')
  return linear_rgb_to_lab(_SRGB8_TO_LINEAR[rgb8])


def rgb8_to_lab_planes(rgb8: np.ndarray) -> np.ndarray:
  """uint8 sRGB [H, W, 3] -> float32 Lab planes [3, H, W] (L, a, b), without a channels-last copy."""
  if rgb8.dtype != np.uint8:
    raise TypeError(f'rgb8_to_lab_planes expects uint8, got {rgb8.dtype}')
  return linear_rgb_to_lab(_SRGB8_TO_LINEAR[rgb8], _NUMPY_PLANES_OUT)


def lab_to_rgb8(lab: np.ndarray) -> np.ndarray:
  """float Lab [..., 3] -> uint8 sRGB [..., 3] (NumPy, rounded)."""
  return np.clip(np.rint(lab_to_rgb(np.asarray(lab, np.float64)) * 255.0), 0, 255).astype(np.uint8)
