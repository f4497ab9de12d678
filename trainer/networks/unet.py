"""The `unet` colorizer: an ImageNet-pretrained EfficientNet-Lite0 as the encoder of a U-Net (DeOldify's recipe).

    gray L --(project's Lab -> sRGB, a = b = 0)--> EfficientNet-Lite0, ImageNet weights, batch norm frozen
      stride 2 (16 ch) ----------------------------------------------------------------+ skip
      stride 4 (24 ch) --------------------------------------------------------+ skip   |
      stride 8 (40 ch) ------------------------------------------------+ skip  |        |
      stride 16 (112 ch) ---------------------------------------+ skip |       |        |
      stride 32 (320 ch) + tiled global embedding (pooled 1280-d head) -> 1x1 mix (fusion)
                                                                 decoder: x2 up, concat skip, 2 x (conv, BN, ReLU)
                                                                 ... up to stride 2 -> ab (tanh) or bin logits

An encoder trained from scratch on a few thousand photos learns edges, not what things are; the classifier already
knows grass from sky. The pooled ImageNet embedding (the Deep Koalarization fusion) now comes free from the same
encoder pass. The output is at half the model's resolution, like Zhang et al.'s (who predict at a quarter): colour
is low-frequency, the loss over 264 bins per pixel costs 4x less, and the serving graph upsamples ab onto the
full-resolution L anyway (`predicted_ab`: bilinear to the model's size).

The encoder's batch norm is frozen for good (ImageNet statistics and scales, inference mode), also when the
encoder is unfrozen: batches of 16 on a CPU would give noisy statistics, and gray photos would drag them away
from what the pretrained convolutions expect. `encoder_variables` / `decoder_variables` split the
weights for the two-phase training in `trainer/train.py`.
"""

from __future__ import annotations

import keras
from keras import layers

from configs import definitions
from trainer.networks import efficientnet_lite
from trainer.networks import fusion
from trainer import scaling

DOWNSAMPLING = definitions.VARIANT_DOWNSAMPLING['unet']  # the encoder's deepest features are at stride 32
OUTPUT_STRIDE = 2  # the prediction is at half the model's resolution
ENCODER_NAME = 'pretrained_encoder'

# EfficientNet-Lite0 layers whose outputs feed the decoder: (stride, layer name).
SKIP_LAYERS = ((2, 'block0_project_bn'), (4, 'block2_add'), (8, 'block4_add'), (16, 'block10_add'),
               (32, 'block15_project_bn'))
HEAD_LAYER = 'head_relu6'  # 1280 channels at stride 32: global-average-pooled into the fused embedding


def build_encoder(weights='imagenet') -> keras.Model:
  """EfficientNet-Lite0 (ImageNet weights) returning its features at strides 2, 4, 8, 16, 32 and the pooled head.

  Input: RGB 0..255 [B, H, W, 3]. Outputs: a list of five feature maps (SKIP_LAYERS order) and the [B, 1280]
  embedding, the same numbers the standalone `efficientnet_lite.load_efficientnet_lite0` computes.
  """
  backbone = efficientnet_lite.load_efficientnet_lite0(weights=weights, include_top=False)
  for layer in backbone.layers:  # ImageNet statistics for good: a non-trainable BN runs in inference mode in Keras
    if isinstance(layer, layers.BatchNormalization):
      layer.trainable = False
  rgb = keras.Input((None, None, 3), name='rgb_0_255')
  features = keras.Model(backbone.input, [backbone.get_layer(name).output for _, name in SKIP_LAYERS] +
                         [backbone.get_layer(HEAD_LAYER).output], name='lite0_features')
  outputs = features(layers.Lambda(efficientnet_lite.preprocess, name='imagenet_normalize')(rgb))
  embedding = layers.GlobalAveragePooling2D(name='embedding')(outputs[-1])
  return keras.Model(rgb, [*outputs[:-1], embedding], name=ENCODER_NAME)


def _conv_bn_relu(x, filters: int, name: str, conv_dtype: str | None = None):
  x = layers.Conv2D(filters, 3, padding='same', use_bias=False, dtype=conv_dtype, name=f'{name}_conv')(x)
  x = layers.BatchNormalization(name=f'{name}_bn')(x)
  return layers.ReLU(name=f'{name}_relu')(x)


@keras.saving.register_keras_serializable(package='colorize')
class GrayToRGB(layers.Layer):
  """Scaled L [B, H, W, 1] -> the gray photo as sRGB 0..255 (the project's one Lab implementation)."""

  def call(self, l_scaled):
    return scaling.gray_to_rgb_0_255(l_scaled)

  def compute_output_shape(self, input_shape):
    return (*input_shape[:-1], 3)


def build_unet(config: definitions.ModelConfig, num_bins: int = 0, encoder_weights='imagenet',
               regression_head: bool = False, decoder_conv_dtype: str | None = None) -> keras.Model:
  """The trainable colorizer: {'l': [B, H, W, 1] scaled L} -> ab scaled [B, H/2, W/2, 2] or logits [.., num_bins]
  (+ 2 ab channels with `regression_head`; `fusion.output_head`).

  H and W must be multiples of DOWNSAMPLING. `decoder_conv_dtype`: the Keras dtype policy of the decoder's 3x3
  convolutions (None: the global policy); `mixed_bfloat16` computes only them in bfloat16, with float32 weights
  (`training.precision=bfloat16_decoder`). The variables are float32 either way, so weight files fit both.
  """
  if config.network.embedder != 'efficientnet_lite0':
    raise ValueError(f'model.network.variant=unet: the pretrained encoder is efficientnet_lite0, not {config.network.embedder!r}')
  l_input = keras.Input(shape=(None, None, 1), name='l')
  encoder = build_encoder(encoder_weights)
  *skips, embedding = encoder(GrayToRGB(name='gray_rgb')(l_input))

  x = fusion.FuseGlobalEmbedding(name='fuse')([skips[-1], embedding])
  x = layers.Conv2D(config.network.fusion_channels, 1, use_bias=False, name='fusion_mix')(x)
  x = layers.ReLU(name='fusion_relu')(layers.BatchNormalization(name='fusion_bn')(x))
  for (stride, _), skip, filters in zip(reversed(SKIP_LAYERS[:-1]), reversed(skips[:-1]), config.network.decoder_filters):
    x = layers.UpSampling2D(2, interpolation='bilinear', name=f'decoder_{stride}_up')(x)
    x = layers.Concatenate(name=f'decoder_{stride}_skip')([x, skip])
    x = _conv_bn_relu(x, filters, f'decoder_{stride}_a', decoder_conv_dtype)
    x = _conv_bn_relu(x, filters, f'decoder_{stride}_b', decoder_conv_dtype)
  return keras.Model({'l': l_input}, fusion.output_head(x, num_bins, regression_head), name='colorizer_unet')


def encoder_variables(colorizer: keras.Model) -> list:
  return colorizer.get_layer(ENCODER_NAME).trainable_variables


def decoder_variables(colorizer: keras.Model) -> list:
  encoder = {id(v) for v in encoder_variables(colorizer)}
  return [v for v in colorizer.trainable_variables if id(v) not in encoder]
