"""What the network is trained to output and how that output becomes ab: regression, Zhang et al.'s rebalanced
classification whose decoding (annealed-mean temperature, prior correction) is chosen after training on the eval
split, or both heads at once (`classification+l1_chroma`)."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any, Callable, Iterable

import numpy as np
import tensorflow as tf

from trainer.objective import color_bins
from trainer.objective import decoding
from trainer.objective import flip_averaging
from trainer.objective import losses
from trainer import scaling


def write_json(path: str, value) -> None:
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path, 'w') as f:
    json.dump(value, f)


@dataclasses.dataclass
class Objective:
  """How the network's output is trained and read."""
  loss_fn: Any           # (ab_true_scaled, output, mask) -> [B]
  output_to_ab: Any      # output -> ab in ab units, at the model's size
  num_bins: int = 0      # > 0: classification over this many ab bins
  regression_head: bool = False   # with num_bins: 2 more output channels, ab regressed (`fusion.output_head`)
  color_bins: dict | None = None  # classification: what goes to color_bins.json
  regression_decoding: dict | None = None  # regression: the chroma gain and its search, what goes to decoding.json


def _at_model_size(ab, image_size: int):
  """ab predicted at a lower resolution (the unet's half size) -> bilinear at the model's size."""
  if ab.shape[1] == image_size:
    return ab
  return tf.image.resize(ab, (image_size, image_size), method='bilinear')


def _bins_decoder(weights, temperature: float, prior_correction: float, image_size: int,
                  regression_head: bool = False):
  """Bin logits -> ab in ab units at the model's size: the annealed mean at `temperature`, after the prior
  correction drawn from the training's rebalancing `weights`.

  With a regression head (the output's last 2 channels), each pixel takes the more saturated of the two heads'
  ab: the classification head's colour where it is more vivid, the regression head's (L1: the median) where the
  classification head is duller, so neither head's desaturation survives where the other has a colour.
  """
  centers = color_bins.ab_bin_centers()
  bias = color_bins.prior_logit_bias(weights, prior_correction) if prior_correction else None

  def decode(output):
    ab = color_bins.annealed_mean(output[..., :len(centers)], centers=centers, temperature=temperature,
                                  logit_bias=bias)
    if regression_head:
      regressed = scaling.unscale_ab(tf.cast(output[..., len(centers):], tf.float32))
      chroma = lambda x: tf.reduce_sum(tf.square(x), -1, keepdims=True)
      ab = tf.where(chroma(ab) >= chroma(regressed), ab, regressed)
    return _at_model_size(ab, image_size)
  return decode


def _regression_decoder(chroma_gain: float, image_size: int):
  """Scaled ab -> ab in ab units at the model's size, times the chroma gain chosen on the eval split."""
  return lambda output: _at_model_size(scaling.unscale_ab(output), image_size) * chroma_gain


# (ab, mask) batches of training examples: `trainer.input.data.training_sample`, handed in by the trainer.
TrainingSample = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]


def _regression_loss(model_config, histogram):
  """The configured regression loss; with `model.loss.regression_rebalancing` > 0 each pixel's loss is scaled by the
  rebalancing weight of its true colour's bin, so the rare greens, cyans and purples count as much as the browns
  that fill most photos (Zhang's rebalancing, carried over from the cross-entropy to L1/L2)."""
  loss = losses.regression_loss(model_config)
  if not model_config.loss.regression_rebalancing:
    return loss
  centers = color_bins.ab_bin_centers()
  weights = tf.constant(color_bins.rebalancing_weights(histogram, lam=model_config.loss.rebalance_lambda,
                                                       strength=model_config.loss.regression_rebalancing))

  def rebalanced(ab_true, ab_pred, mask):
    bins = color_bins.nearest_bin(tf.cast(ab_true, tf.float32) * scaling.AB_SCALE, centers)
    return loss(ab_true, ab_pred, mask, pixel_weights=tf.gather(weights, bins))
  return rebalanced


def make_objective(model_config, image_size: int, training_sample: TrainingSample) -> Objective:
  """The loss and the output decoding: regression, or Zhang et al.'s rebalanced classification.

  Classification: the histogram is computed once, over `training_sample` (up to `data.TRAINING_SAMPLE` examples, padding
  excluded), and stored next to the model (`color_bins.json`); the exported graph carries the centres and the
  annealed-mean temperature (chosen after training, `trainer/objective/decoding.py`) as constants.
  """

  needs_histogram = model_config.loss.bins_head or model_config.loss.regression_rebalancing
  # The ab-bin histogram of the training sample (padding excluded): what the class rebalancing weights come from.
  histogram = color_bins.bin_histogram(training_sample()) if needs_histogram else None
  if not model_config.loss.bins_head:
    return Objective(_regression_loss(model_config, histogram),
                     _regression_decoder(model_config.decoding.chroma_gain, image_size),
                     regression_decoding={'chroma_gain': model_config.decoding.chroma_gain})
  two_heads = model_config.loss.regression_loss is not None
  centers = color_bins.ab_bin_centers()
  weights = color_bins.rebalancing_weights(histogram, lam=model_config.loss.rebalance_lambda)
  loss_fn = functools.partial(color_bins.classification_loss, weights=tf.constant(weights), centers=centers)
  if two_heads:
    loss_fn = functools.partial(two_head_loss, classification_loss=loss_fn, num_bins=len(centers),
                                regression_loss=_regression_loss(model_config, histogram),
                                regression_weight=model_config.loss.regression_weight)
  output_to_ab = _bins_decoder(weights, model_config.decoding.temperature, model_config.decoding.prior_correction,
                               image_size, two_heads)
  return Objective(loss_fn, output_to_ab, len(centers), two_heads, {
      'centers': centers.tolist(), 'histogram': histogram.tolist(), 'weights': weights.tolist(),
      'lambda': model_config.loss.rebalance_lambda, 'temperature': model_config.decoding.temperature,
      'prior_correction': model_config.decoding.prior_correction, 'regression_head': two_heads})


def two_head_loss(ab_true, output, mask, *, classification_loss, regression_loss, num_bins: int,
                  regression_weight: float):
  """`classification+l1_chroma`: the bins' cross-entropy on the first `num_bins` channels plus
  `regression_weight` x the regression loss on the last two (Zhang et al. 2017 train the same two heads)."""
  return (classification_loss(ab_true, output[..., :num_bins], mask)
          + regression_weight * regression_loss(ab_true, output[..., num_bins:], mask))


def decoding_candidates(model_config, objective: Objective) -> list[dict[str, float]]:
  """What `choose_decoding` tries: (T, s) pairs for the bins, chroma gains for a regression; [] = nothing to choose."""
  if objective.num_bins:
    if not model_config.decoding.temperature_candidates:
      return []
    return decoding.bins_candidates(model_config.decoding.temperature_candidates, model_config.decoding.prior_correction_candidates)
  return [{'chroma_gain': float(g)} for g in model_config.decoding.chroma_gain_candidates]


def choose_decoding(config, objective: Objective, colorizer, embed, eval_batches, image_size: int) -> None:
  """Picks the decoding on the eval split (`trainer/objective/decoding.py`): the annealed-mean temperature and prior
  correction of the bins, or a regression's chroma gain; updates the decoding in place, so the exported graph
  serves the choice, and records the search next to the model. Nothing to choose from: the decoding stays. The
  candidates are scored on the output as served (with `model.decoding.flip_averaging`, the mirror-averaged one)."""
  candidates = decoding_candidates(config.model, objective)
  if not candidates:
    return
  if objective.num_bins:
    weights = objective.color_bins['weights']
    decode = lambda output, temperature, prior_correction: _bins_decoder(
        weights, temperature, prior_correction, image_size, objective.regression_head)(output).numpy()
  else:
    decode = lambda output, chroma_gain: _regression_decoder(chroma_gain, image_size)(output).numpy()
  flip = flip_averaging.flip_combination(config.model, objective.num_bins)
  choice = decoding.choose(candidates, eval_batches,
                           lambda features: flip_averaging.predict_output(colorizer, embed(features), flip), decode,
                           max_psnr_cost=config.model.decoding.max_psnr_cost,
                           hue_tolerance=config.model.decoding.hue_tolerance)
  describe = lambda knobs: '/'.join(f'{name}={value:g}' for name, value in knobs.items())
  print('decoding on the eval split: ' + ', '.join(
      f'{describe({k: row[k] for k in choice.knobs})}: ΔPSNR {row["delta_psnr"]:+.2f} '
      f'hue recall {row["hue_recall"]:.3f}' for row in choice.table)
      + f'  -> {describe(choice.knobs)}', flush=True)
  if objective.num_bins:
    objective.color_bins.update(**choice.knobs, temperature_search=choice.table)
    objective.output_to_ab = _bins_decoder(weights, choice.knobs['temperature'], choice.knobs['prior_correction'],
                                           image_size, objective.regression_head)
  else:
    objective.regression_decoding = {**choice.knobs, 'search': choice.table}
    objective.output_to_ab = _regression_decoder(choice.knobs['chroma_gain'], image_size)
