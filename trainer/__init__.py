"""Keras 3 models for the colorizer: the fusion network and its offline ImageNet feature extractor."""
