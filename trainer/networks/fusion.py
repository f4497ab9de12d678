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

DOWNSAMPLING = definitions.VARIANT_DOWNSAMPLING['fusion']  # three stride-2 stages


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
  f1, f2, f3 = config.network.encoder_filters
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

  if config.network.variant == 'fusion':
    if embedding_size <= 0:
      raise ValueError('the fusion variant needs embedding_size > 0')
    embedding = keras.Input(shape=(embedding_size,), name='embedding')
    inputs['embedding'] = embedding
    x = FuseGlobalEmbedding(name='fuse')([x, embedding])
    x = layers.Conv2D(config.network.fusion_channels, 1, activation='relu', name='fusion_mix')(x)

  # Decoder: back to full resolution.
  x = _conv(f2, 1, 'decoder_1')(x)
  x = layers.UpSampling2D(2, interpolation='nearest', name='decoder_1_up')(x)
  x = _conv(f1, 1, 'decoder_2')(x)
  x = _conv(f1, 1, 'decoder_3')(x)
  x = layers.UpSampling2D(2, interpolation='nearest', name='decoder_2_up')(x)
  x = _conv(f1 // 2, 1, 'decoder_4')(x)
  x = layers.UpSampling2D(2, interpolation='nearest', name='decoder_3_up')(x)
  return keras.Model(inputs, output_head(x, num_bins, regression_head), name=f'colorizer_{config.network.variant}')


def output_head(x, num_bins: int = 0, regression_head: bool = False):
  """The last layer(s), in float32: bin logits [.., num_bins] (classification), ab scaled by tanh [.., 2]
  (regression), or both concatenated [.., num_bins + 2] (`classification+l1_chroma`: two heads on one decoder)."""
  logits = layers.Conv2D(num_bins, 1, name='ab_bin_logits', dtype='float32')(x) if num_bins else None
  if logits is not None and not regression_head:
    return logits
  ab = layers.Conv2D(2, 3, padding='same', activation='tanh', name='ab', dtype='float32')(x)
  return ab if logits is None else layers.Concatenate(name='ab_bin_logits_and_ab', dtype='float32')([logits, ab])
