"""Test-time flip averaging (`model.decoding.flip_averaging`): the output for a photo combined with the output for
its mirror image, the same way in the decoding search, in the gate and in the exported graph."""

from __future__ import annotations

import tensorflow as tf


def flip_combination(model_config, num_bins: int) -> str:
  """How `predict_output` combines the photo's and its mirror image's outputs under `model_config`: '' (`off`),
  'mean', or 'keep_chroma' (for an ab output; bin logits, `num_bins` > 0, are always averaged)."""
  mode = model_config.decoding.flip_averaging
  if mode == 'off':
    return ''
  return 'mean' if num_bins else mode


def predict_output(colorizer, features, flip_averaging: str = ''):
  """The network's output for `features` (float32), as served.

  `flip_averaging` is `flip_combination`'s answer. With 'mean' (`model.decoding.flip_averaging`, test-time augmentation)
  it is the mean of the output for the photo and the output for its mirror image, mirrored back: the two disagree
  where the network is unsure, so the mean errs less (higher PSNR) at the price of a second network pass. The
  embedding, if any, is the photo's for both (an ImageNet classifier is trained to be mirror-invariant).
  'keep_chroma' (an ab output): the mean vector's hue at the mean of the two chromas, so where the two disagree the
  colour is not grayed out. '' = the photo's output alone.
  """
  output = tf.cast(colorizer(features, training=False), tf.float32)
  if not flip_averaging:
    return output
  mirrored = {**features, 'l': tf.reverse(features['l'], axis=[2])}
  other = tf.reverse(tf.cast(colorizer(mirrored, training=False), tf.float32), axis=[2])
  mean = 0.5 * (output + other)
  if flip_averaging == 'mean':
    return mean
  chroma = 0.5 * (tf.norm(output, axis=-1, keepdims=True) + tf.norm(other, axis=-1, keepdims=True))
  return mean * tf.math.divide_no_nan(chroma, tf.norm(mean, axis=-1, keepdims=True))
