"""The trainable network of each variant, with its optimizers, built inside the strategy's scope."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

from trainer.networks import embedders
from trainer.networks import fusion
from trainer.networks import unet


@dataclasses.dataclass
class Network:
  """The trainable network and what it needs around it."""
  colorizer: Any
  embedder: Any            # frozen ImageNet embedder of `fusion` (computed in the graph), else None
  decoder_variables: list  # trained in every phase
  encoder_variables: list  # `unet`: the pretrained encoder, trained after the frozen phase


def build_network(model_config, num_bins: int, regression_head: bool = False,
                  decoder_conv_dtype: str | None = None) -> Network:
  """Builds the configured variant (inside the strategy's scope); its output as `fusion.output_head` says.
  `decoder_conv_dtype`: the unet decoder's convolutions' dtype policy (`schedule.decoder_conv_policy`)."""
  if model_config.network.variant == 'unet':
    colorizer = unet.build_unet(model_config, num_bins=num_bins, encoder_weights=model_config.network.embedder_weights or
                                'imagenet', regression_head=regression_head,
                                decoder_conv_dtype=decoder_conv_dtype)
    return Network(colorizer, None, unet.decoder_variables(colorizer), unet.encoder_variables(colorizer))
  embedder, embedding_size = None, 0
  if model_config.network.variant == 'fusion':
    embedder = embedders.load_embedder(model_config)
    embedding_size = embedder.size
  colorizer = fusion.build_colorizer(model_config, embedding_size, num_bins=num_bins,
                                        regression_head=regression_head)
  return Network(colorizer, embedder, list(colorizer.trainable_variables), [])


def optimizer(policy: str, training, rate_multiplier: float = 1.0):
  """Adam at `training.optimizer.learning_rate` x `rate_multiplier` (AdamW with `training.optimizer.weight_decay` > 0: decoupled
  decay, w -= rate x decay x w each step, biases and normalization scales and offsets exempt); under
  mixed_float16 wrapped in a dynamic loss-scale optimizer."""
  optimizer = keras.optimizers.Adam(training.optimizer.learning_rate * rate_multiplier,
                                    weight_decay=training.optimizer.weight_decay or None)
  if training.optimizer.weight_decay:
    optimizer.exclude_from_weight_decay(var_names=['bias', 'gamma', 'beta'])
  if policy == 'mixed_float16':  # float16 gradients underflow without dynamic loss scaling; bfloat16's do not
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer
