"""The networks' numeric conventions, shared by the input pipeline, the objective, the networks and the export:
L in [0, 100] -> [-1, 1] at the input; ab / AB_SCALE in [-1, 1] at a regression output (tanh), as Deep
Koalarization scales them; and the gray image as sRGB 0..255 for ImageNet encoders."""

from __future__ import annotations

import tensorflow as tf

from contracts import colorspace

# Network scaling (Deep Koalarization): L in [0, 100] -> [-1, 1]; ab / AB_SCALE in [-1, 1] (tanh output).
L_CENTER = 50.0
AB_SCALE = 128.0


def scale_l(l):
  """L in [0, 100] -> network input in [-1, 1]."""
  return l / L_CENTER - 1.0


def unscale_l(l_scaled):
  """Network input in [-1, 1] -> L in [0, 100] (the inverse of `scale_l`)."""
  return (l_scaled + 1.0) * L_CENTER


def unscale_ab(ab_scaled):
  """Network output in [-1, 1] -> ab."""
  return ab_scaled * AB_SCALE


def scale_ab(ab):
  return ab / AB_SCALE


def gray_to_rgb_0_255(l_scaled, size: int | None = None):
  """Scaled L [B, H, W, 1] -> the gray image as sRGB 0..255 [B, size, size, 3] (size None: H x W), for ImageNet nets.

  Uses the project's one Lab implementation (a = b = 0), so the embedder sees the same gray as a user's photo.
  """
  l = unscale_l(tf.cast(l_scaled, tf.float32))
  lab = tf.concat([l, tf.zeros_like(l), tf.zeros_like(l)], axis=-1)
  rgb = colorspace.lab_to_rgb(lab, colorspace.tensorflow_backend()) * 255.0
  return rgb if size is None else tf.image.resize(rgb, (size, size), method='bilinear')
