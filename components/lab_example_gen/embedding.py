"""Wires the trainer's frozen embedder into the dataset job (which does not import the trainer), for LabExampleGen
and the stand-alone dataset build (`pipeline.build_dataset`)."""

from __future__ import annotations

import functools

import configs
from dataset import records


def embedding_for(config: configs.PipelineConfig) -> records.Embedding | None:
  """`trainer.networks.embedders`' quantized-L embedder when `data.precompute_embeddings` asks for it, else None."""
  if not config.data.precompute_embeddings or config.model.network.variant != 'fusion':
    return None  # (the dataset job reports a precompute without a fusion model)
  from trainer.networks import embedders  # pylint: disable=g-import-not-at-top  (Keras, only when needed)
  return records.Embedding(config.model.network.embedder, embedders.embedding_size(config.model),
                              functools.partial(embedders.quantized_l_embedding_fn, config.model))
