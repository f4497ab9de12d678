"""The fusion colorizer: L in, ab out (Deep Koalarization's layout, Keras 3).

    L (H x W x 1) --encoder: stride-2 convs--> (H/8 x W/8 x C)
                                                    |  fusion: tile a global image embedding over every position,
                                                    |  concatenate, mix with a 1x1 conv
                                                    v
    ab (H x W x 2) <--decoder: convs + 2x upsampling--

The `beta` variant skips the fusion (plain encoder-decoder); `fusion` fuses the output of a frozen ImageNet
classifier that looked at the same gray image (computed in the graph, or read from records when the dataset build
precomputed it).
"""

from __future__ import annotations

import keras
from keras import layers
from keras import ops

from configs import definitions

# Network scaling (Deep Koalarization): L in [0, 100] -> [-1, 1]; ab / AB_SCALE in [-1, 1] (tanh output).
L_CENTER = 50.0
AB_SCALE = 128.0
DOWNSAMPLING = definitions.VARIANT_DOWNSAMPLING['fusion']  # three stride-2 stages


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


@keras.saving.register_keras_serializable(package='colorize')
class FuseGlobalEmbedding(layers.Layer):
  """Tiles a per-image vector over every bottleneck position and concatenates it to the local features."""

  def call(self, inputs):
    features, embedding = inputs
    height, width = ops.shape(features)[1], ops.shape(features)[2]
    tiled = ops.broadcast_to(embedding[:, None, None, :],
                             (ops.shape(features)[0], height, width, ops.shape(embedding)[-1]))
    return ops.concatenate([features, ops.cast(tiled, features.dtype)], axis=-1)

  def compute_output_shape(self, input_shapes):
    features, embedding = input_shapes
    return (*features[:-1], features[-1] + embedding[-1])


def _conv(filters: int, stride: int = 1, name: str | None = None, activation: str = 'relu') -> layers.Layer:
  return layers.Conv2D(filters, 3, strides=stride, padding='same', activation=activation, name=name)


def build_colorizer(config: definitions.ModelConfig, embedding_size: int = 0, num_bins: int = 0,
                    regression_head: bool = False) -> keras.Model:
  """The trainable colorizer.

  Args:
    config: Model config (variant, filters, fusion width).
    embedding_size: Size of the global embedding input (required for `fusion`, ignored for `beta`).
    num_bins: For the classification loss: output logits over this many ab bins instead of ab.
    regression_head: With num_bins: also output ab (`output_head`).

  Returns:
    A functional model: inputs {'l': [B, H, W, 1] scaled L} (+ {'embedding': [B, E]} for fusion);
    output ab scaled to [-1, 1] [B, H, W, 2], or bin logits [B, H, W, num_bins] (+ 2 ab channels).
  """
  f1, f2, f3 = config.encoder_filters
  l_input = keras.Input(shape=(None, None, 1), name='l')
  inputs = {'l': l_input}

  # Encoder: three stride-2 stages, no pooling (H/8 x W/8).
  x = _conv(f1, 2, 'encoder_1_down')(l_input)
  x = _conv(f2, 1, 'encoder_1')(x)
  x = _conv(f2, 2, 'encoder_2_down')(x)
  x = _conv(f3, 1, 'encoder_2')(x)
  x = _conv(f3, 2, 'encoder_3_down')(x)
  x = _conv(2 * f3, 1, 'encoder_3')(x)
  x = _conv(2 * f3, 1, 'encoder_4')(x)
  x = _conv(f3, 1, 'encoder_5')(x)

  if config.variant == 'fusion':
    if embedding_size <= 0:
      raise ValueError('the fusion variant needs embedding_size > 0')
    embedding = keras.Input(shape=(embedding_size,), name='embedding')
    inputs['embedding'] = embedding
    x = FuseGlobalEmbedding(name='fuse')([x, embedding])
    x = layers.Conv2D(config.fusion_channels, 1, activation='relu', name='fusion_mix')(x)

  # Decoder: back to full resolution.
  x = _conv(f2, 1, 'decoder_1')(x)
  x = layers.UpSampling2D(2, interpolation='nearest', name='decoder_1_up')(x)
  x = _conv(f1, 1, 'decoder_2')(x)
  x = _conv(f1, 1, 'decoder_3')(x)
  x = layers.UpSampling2D(2, interpolation='nearest', name='decoder_2_up')(x)
  x = _conv(f1 // 2, 1, 'decoder_4')(x)
  x = layers.UpSampling2D(2, interpolation='nearest', name='decoder_3_up')(x)
  return keras.Model(inputs, output_head(x, num_bins, regression_head), name=f'colorizer_{config.variant}')


def output_head(x, num_bins: int = 0, regression_head: bool = False):
  """The last layer(s), in float32: bin logits [.., num_bins] (classification), ab scaled by tanh [.., 2]
  (regression), or both concatenated [.., num_bins + 2] (`classification+l1_chroma`: two heads on one decoder)."""
  logits = layers.Conv2D(num_bins, 1, name='ab_bin_logits', dtype='float32')(x) if num_bins else None
  if logits is not None and not regression_head:
    return logits
  ab = layers.Conv2D(2, 3, padding='same', activation='tanh', name='ab', dtype='float32')(x)
  return ab if logits is None else layers.Concatenate(name='ab_bin_logits_and_ab', dtype='float32')([logits, ab])


def gray_to_rgb_0_255(l_scaled, size: int | None = None):
  """Scaled L [B, H, W, 1] -> the gray image as sRGB 0..255 [B, size, size, 3] (size None: H x W), for ImageNet nets.

  Uses the project's one Lab implementation (a = b = 0), so the embedder sees the same gray as a user's photo.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from contracts import colorspace  # pylint: disable=g-import-not-at-top
  l = unscale_l(tf.cast(l_scaled, tf.float32))
  lab = tf.concat([l, tf.zeros_like(l), tf.zeros_like(l)], axis=-1)
  rgb = colorspace.lab_to_rgb(lab, colorspace.tensorflow_backend()) * 255.0
  return rgb if size is None else tf.image.resize(rgb, (size, size), method='bilinear')


def flip_combination(model_config, num_bins: int) -> str:
  """How `predict_output` combines the photo's and its mirror image's outputs under `model_config`: '' (no flip
  averaging), 'mean', or 'keep_chroma' (`model.flip_averaging_chroma: keep`, for an ab output; bin logits are
  always averaged)."""
  if not model_config.flip_averaging:
    return ''
  return 'keep_chroma' if model_config.flip_averaging_chroma == 'keep' and not num_bins else 'mean'


def predict_output(colorizer, features, flip_averaging: str = ''):
  """The network's output for `features` (float32), as served.

  `flip_averaging` is `flip_combination`'s answer. With 'mean' (`model.flip_averaging`, test-time augmentation)
  it is the mean of the output for the photo and the output for its mirror image, mirrored back: the two disagree
  where the network is unsure, so the mean errs less (higher PSNR) at the price of a second network pass. The
  embedding, if any, is the photo's for both (an ImageNet classifier is trained to be mirror-invariant).
  'keep_chroma' (an ab output): the mean vector's hue at the mean of the two chromas, so where the two disagree the
  colour is not grayed out. '' = the photo's output alone.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
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
