"""Masked per-example losses on ab (padding pixels excluded), ready for distributed averaging.

Each function returns one loss per example; the training step divides their sum by the *global* batch size
(`tf.nn.compute_average_loss`), which is what makes gradients correct under every tf.distribute strategy.
"""

from __future__ import annotations

import tensorflow as tf

HUBER_DELTA = 0.1  # in scaled ab units (about 13 ab units)


def _masked_mean(per_pixel, mask):
  """Mean over valid pixels of each example: [B, H, W] -> [B]."""
  mask = tf.squeeze(tf.cast(mask, per_pixel.dtype), -1)
  return tf.reduce_sum(per_pixel * mask, axis=[1, 2]) / tf.maximum(tf.reduce_sum(mask, axis=[1, 2]), 1.0)


def masked_mse(ab_true, ab_pred, mask):
  return _masked_mean(tf.reduce_mean(tf.square(ab_true - tf.cast(ab_pred, ab_true.dtype)), -1), mask)


def masked_huber(ab_true, ab_pred, mask, delta: float = HUBER_DELTA):
  error = tf.abs(ab_true - tf.cast(ab_pred, ab_true.dtype))
  quadratic = tf.minimum(error, delta)
  per_pixel = tf.reduce_mean(0.5 * tf.square(quadratic) + delta * (error - quadratic), -1)
  return _masked_mean(per_pixel, mask)


REGRESSION_LOSSES = {'mse': masked_mse, 'huber': masked_huber}
