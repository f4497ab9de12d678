"""The colorizer's config: the network, the loss it is trained with, and how its output is decoded into ab."""

from __future__ import annotations

import dataclasses
from typing import Literal

from configs.base import ConfigError

# How many times each network variant's encoder downsamples: image sides must be multiples of it.
VARIANT_DOWNSAMPLING = {'unet': 32, 'fusion': 8, 'beta': 8}


@dataclasses.dataclass
class NetworkConfig:
  """The network: L in, ab (or ab-bin logits) out.

  Attributes:
    variant: `unet` (an ImageNet-pretrained EfficientNet-Lite0 as the encoder of a U-Net, its pooled embedding
      fused at the bottleneck; `trainer/networks/unet.py`), `fusion` (an encoder trained from scratch with a
      frozen ImageNet embedder's output fused in, as Deep Koalarization; `trainer/networks/fusion.py`) or `beta`
      (that encoder-decoder without the embedding). Image sides must be multiples of the variant's
      downsampling: 32 for `unet`, 8 for the others.
    embedder: The ImageNet classifier: the encoder of `unet` (efficientnet_lite0 only), the frozen embedder of
      `fusion`.
    embedder_weights: Local or `gs://` path of the embedder's weights; empty means the default location
      (the converted EfficientNet-Lite0 cache, or Keras' download cache for Inception-ResNet-v2).
    encoder_filters: Filters of the stride-2 encoder stages (`beta`, `fusion`).
    decoder_filters: Filters of the U-Net decoder stages at strides 16, 8, 4 and 2 (`unet`).
    fusion_channels: Channels of the 1x1 convolution that mixes the tiled embedding into the bottleneck.
  """

  variant: Literal['unet', 'fusion', 'beta'] = 'unet'
  embedder: Literal['efficientnet_lite0', 'inception_resnet_v2'] = 'efficientnet_lite0'
  embedder_weights: str = ''
  encoder_filters: list[int] = dataclasses.field(default_factory=lambda: [64, 128, 256])
  decoder_filters: list[int] = dataclasses.field(default_factory=lambda: [128, 64, 48, 32])
  fusion_channels: int = 256

  @property
  def downsampling(self) -> int:
    return VARIANT_DOWNSAMPLING[self.variant]

  def validate(self) -> None:
    """Raises ConfigError naming the first key out of its range."""
    if self.variant == 'unet' and len(self.decoder_filters) != 4:
      raise ConfigError('model.network.decoder_filters: needs 4 values (decoder stages at strides 16, 8, 4, 2), '
                        f'got {self.decoder_filters}')


@dataclasses.dataclass
class LossConfig:
  """What the network is trained to output, and the loss.

  Attributes:
    kind: `classification` over the in-gamut ab bins of grid 10 (Zhang et al.'s 313; 264 derived from 8-bit sRGB
      here, `trainer/objective/color_bins.py`), `mse` or `huber` regression of ab, `l1_chroma` (L1 on ab plus a
      penalty on predicted chroma below `chroma_boost` x the true chroma: a regression that does not average
      towards brown), or `classification+l1_chroma`: both, as two heads on one decoder (as Zhang et al. 2017),
      the loss being the cross-entropy plus `regression_weight` x l1_chroma; each pixel is served the more
      saturated of the two heads' ab.
    rebalance_lambda: Class-rebalancing mix between the empirical bin distribution and uniform.
    chroma_boost: `l1_chroma`: the chroma the prediction is pushed towards, as a multiple of the true chroma.
    chroma_weight: `l1_chroma`: weight of the chroma term against the L1 term.
    regression_weight: `classification+l1_chroma`: weight of the regression head's loss against the
      cross-entropy.
    regression_rebalancing: Class rebalancing for the regression losses (and the two-head variant's regression
      head), in [0, 1]: each pixel's loss is scaled by w^this, w being the classification's rebalancing weight
      (`rebalance_lambda`) of its true colour's bin, renormalized to average 1 over the training photos. 0 = off,
      1 = the cross-entropy's full rebalancing: rare colours (green, cyan, purple) weigh as much as the browns
      that fill most photos.
  """

  kind: Literal['classification', 'mse', 'huber', 'l1_chroma', 'classification+l1_chroma'] = 'classification'
  rebalance_lambda: float = 0.5
  chroma_boost: float = 1.2
  chroma_weight: float = 0.5
  regression_weight: float = 10.0
  regression_rebalancing: float = 0.0

  @property
  def bins_head(self) -> bool:
    """The network outputs bin logits (`classification`, `classification+l1_chroma`)."""
    return self.kind.startswith('classification')

  @property
  def regression_loss(self) -> str | None:
    """The loss of the network's ab regression head (`l1_chroma` for `classification+l1_chroma`); None without one."""
    return None if self.kind == 'classification' else self.kind.rpartition('+')[2]

  def validate(self) -> None:
    """Raises ConfigError naming the first key out of its range."""
    if not 0.0 <= self.regression_rebalancing <= 1.0:
      raise ConfigError(f'model.loss.regression_rebalancing: must be in [0, 1] (0 = off), got '
                        f'{self.regression_rebalancing}')


@dataclasses.dataclass
class DecodingConfig:
  """How the network's output becomes the served ab, chosen after training on the eval split.

  Attributes:
    temperature: Annealed-mean temperature of the bins' decoding, used when `temperature_candidates` is empty or
      there is no eval split.
    temperature_candidates: After training, the temperature is chosen among these (jointly with the prior
      correction) on the eval split: the pair with the highest hue-balanced recall among those whose ΔPSNR vs
      gray is >= -max_psnr_cost (else the best ΔPSNR). The choice is stored next to the model
      (`color_bins.json`) and baked into the serving graph (`trainer/objective/decoding.py`).
    prior_correction: The bins' prior correction s: the logits get s x log(rebalancing weight) before the annealed
      mean, so colours rare in the training photos win where the network hesitates (used when
      `temperature_candidates` is empty or there is no eval split).
    prior_correction_candidates: The strengths tried with each temperature: 0 = the network's distribution as
      trained, < 0 undoes the training's rebalancing (duller, safer PSNR), > 0 favours rare colours further.
    chroma_gain: Regression losses: the served ab is the network's times this (used when
      `chroma_gain_candidates` is empty or there is no eval split).
    chroma_gain_candidates: Regression losses: the gain is chosen among these on the eval split with the bins'
      criterion and stored in `decoding.json` next to the model. A gain < 1 takes back chroma that costs fidelity.
    max_psnr_cost: How many dB of PSNR against gray the chosen decoding may cost (0: only decodings with
      ΔPSNR >= 0 qualify). Keep it within the gate's `-evaluation.min_delta_psnr`.
    hue_tolerance: Hue-balanced recalls within this of the best qualifying one are a tie, settled by the better
      ΔPSNR.
    flip_averaging: Test-time augmentation: `off` serves the photo's prediction; `mean` the mean of the
      predictions for the photo and its mirror image (mirrored back), at a second network pass; `keep_chroma`
      (ab outputs) that mean vector's hue at the mean of the two chromas, so disagreement does not gray the
      colour out (bin logits are averaged, as with `mean`). The decoding is chosen on the combined output.
  """

  temperature: float = 0.38
  temperature_candidates: list[float] = dataclasses.field(
      default_factory=lambda: [0.2, 0.25, 0.3, 0.38, 0.46, 0.56, 0.7, 0.85, 1.0])
  prior_correction: float = 0.0
  prior_correction_candidates: list[float] = dataclasses.field(
      default_factory=lambda: [-1.0, -0.5, -0.25, -0.1, 0.0, 0.25, 0.5, 1.0])
  chroma_gain: float = 1.0
  chroma_gain_candidates: list[float] = dataclasses.field(
      default_factory=lambda: [0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.1, 1.2])
  max_psnr_cost: float = 0.0
  hue_tolerance: float = 0.01
  flip_averaging: Literal['off', 'mean', 'keep_chroma'] = 'off'

  def validate(self) -> None:
    """Raises ConfigError naming the first key out of its range."""
    if not all(g > 0 for g in [self.chroma_gain, *self.chroma_gain_candidates]):
      raise ConfigError(f'model.decoding.chroma_gain(_candidates): gains must be > 0, got {self.chroma_gain} and '
                        f'{self.chroma_gain_candidates}')


@dataclasses.dataclass
class ModelConfig:
  """The colorizer: L in, ab out.

  Attributes:
    network: The network's architecture.
    loss: What it is trained to output, and how.
    decoding: How its output becomes the served ab.
  """

  network: NetworkConfig = dataclasses.field(default_factory=NetworkConfig)
  loss: LossConfig = dataclasses.field(default_factory=LossConfig)
  decoding: DecodingConfig = dataclasses.field(default_factory=DecodingConfig)

  def validate(self) -> None:
    """Raises ConfigError naming the first key out of its range."""
    self.network.validate()
    self.loss.validate()
    self.decoding.validate()
