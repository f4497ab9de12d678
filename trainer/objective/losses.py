"""Masked per-example losses on ab (padding pixels excluded), ready for distributed averaging.

Each function returns one loss per example; the training step divides their sum by the *global* batch size
(`tf.nn.compute_average_loss`), which is what makes gradients correct under every tf.distribute strategy.
"""

from __future__ import annotations

import functools

import tensorflow as tf

HUBER_DELTA = 0.1  # in scaled ab units (about 13 ab units)


def _masked_mean(per_pixel, mask, pixel_weights=None):
  """Mean over valid pixels of each example: [B, H, W] -> [B]. `pixel_weights` [B, H, W] (class rebalancing)
  scale each pixel's loss; the mean still divides by the valid-pixel count, as the classification loss does."""
  mask = tf.squeeze(tf.cast(mask, per_pixel.dtype), -1)
  if pixel_weights is not None:
    per_pixel *= tf.cast(pixel_weights, per_pixel.dtype)
  return tf.reduce_sum(per_pixel * mask, axis=[1, 2]) / tf.maximum(tf.reduce_sum(mask, axis=[1, 2]), 1.0)


def masked_mse(ab_true, ab_pred, mask, pixel_weights=None):
  return _masked_mean(tf.reduce_mean(tf.square(ab_true - tf.cast(ab_pred, ab_true.dtype)), -1), mask, pixel_weights)


def masked_huber(ab_true, ab_pred, mask, delta: float = HUBER_DELTA, pixel_weights=None):
  error = tf.abs(ab_true - tf.cast(ab_pred, ab_true.dtype))
  quadratic = tf.minimum(error, delta)
  per_pixel = tf.reduce_mean(0.5 * tf.square(quadratic) + delta * (error - quadratic), -1)
  return _masked_mean(per_pixel, mask, pixel_weights)


def masked_l1_chroma(ab_true, ab_pred, mask, boost: float = 1.2, weight: float = 0.5, pixel_weights=None):
  """L1 on ab plus a one-sided penalty on chroma below `boost` x the true chroma.

  L1 regresses to the median instead of the mean (less averaging of a red and a green hypothesis into brown);
  the chroma term only pushes *up*: a prediction at least `boost` times as saturated as the truth costs nothing
  there (DDColor and BigColor train towards a 1.2x saturation-boosted target for the same reason).
  """
  ab_pred = tf.cast(ab_pred, ab_true.dtype)
  l1 = tf.reduce_mean(tf.abs(ab_true - ab_pred), -1)
  chroma_true = tf.sqrt(tf.reduce_sum(tf.square(ab_true), -1))
  # Shifted so that zero ab has exactly zero chroma, with a finite gradient there.
  chroma_pred = tf.sqrt(tf.reduce_sum(tf.square(ab_pred), -1) + 1e-8) - 1e-4
  return _masked_mean(l1 + weight * tf.nn.relu(boost * chroma_true - chroma_pred), mask, pixel_weights)


REGRESSION_LOSSES = {'mse': masked_mse, 'huber': masked_huber, 'l1_chroma': masked_l1_chroma}


def regression_loss(model_config):
  """The configured regression loss (of the regression head, for `classification+l1_chroma`) as
  fn(ab_true, ab_pred, mask) -> [B]."""
  if model_config.loss.regression_loss == 'l1_chroma':
    return functools.partial(masked_l1_chroma, boost=model_config.loss.chroma_boost, weight=model_config.loss.chroma_weight)
  return REGRESSION_LOSSES[model_config.loss.regression_loss]


def match_resolution(targets, prediction):
  """Targets {'ab', 'mask'} [B, H, W, .] pooled down to a prediction made at H/k x W/k (the `unet` output stride).

  ab is averaged over the valid pixels of each k x k cell; a cell is valid when most of it is.
  """
  factor = targets['ab'].shape[1] // prediction.shape[1] if prediction.shape[1] else 1
  if factor in (None, 1):
    return targets
  mask = tf.cast(targets['mask'], tf.float32)
  pool = lambda x: tf.nn.avg_pool2d(x, factor, factor, 'VALID')
  valid = pool(mask)
  ab = pool(tf.cast(targets['ab'], tf.float32) * mask) / tf.maximum(valid, 1e-6)
  return {'ab': ab, 'mask': tf.cast(valid > 0.5, tf.float32)}
