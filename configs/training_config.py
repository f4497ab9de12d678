"""Distributed training's config: the loop's length and placement, and its optimizer, schedule, weight averaging
and sampling sections."""

from __future__ import annotations

import dataclasses
from typing import Literal

from configs.base import ConfigError


@dataclasses.dataclass
class OptimizerConfig:
  """Adam (AdamW with weight decay).

  Attributes:
    learning_rate: The decoder's learning rate at the top of the schedule.
    weight_decay: Decoupled weight decay (AdamW): each step shrinks every kernel by learning rate x this; biases
      and batch-norm scales and offsets are exempt. 0 = plain Adam.
    encoder_learning_rate_multiplier: `unet`: the encoder's learning rate relative to the decoder's once unfrozen.
  """

  learning_rate: float = 1e-3
  weight_decay: float = 0.0
  encoder_learning_rate_multiplier: float = 0.1


@dataclasses.dataclass
class ScheduleConfig:
  """The learning rate and the frozen-encoder phase over the run (`trainer/loop/schedule.py`).

  The run's progress is steps / total steps, or elapsed / budget under `training.time_budget_seconds`, whichever
  is further, so a budgeted run still warms up, unfreezes and decays.

  Attributes:
    decay: `cosine` (linear warm-up, then cosine decay to 0 over the run) or `constant` (after warm-up).
    warmup_fraction: Share of the run spent warming the learning rate up linearly from 0.
    frozen_encoder_fraction: `unet`: share of the run during which the pretrained encoder is frozen (only the
      decoder learns); then everything trains, the encoder at `optimizer.encoder_learning_rate_multiplier` x the
      rate (DeOldify's NoGAN schedule).
  """

  decay: Literal['cosine', 'constant'] = 'cosine'
  warmup_fraction: float = 0.05
  frozen_encoder_fraction: float = 0.3

  def validate(self) -> None:
    """Raises ConfigError naming the first key out of its range."""
    for key in ('warmup_fraction', 'frozen_encoder_fraction'):
      if not 0.0 <= getattr(self, key) < 1.0:
        raise ConfigError(f'training.schedule.{key}: must be in [0, 1), got {getattr(self, key)}')


@dataclasses.dataclass
class AveragingConfig:
  """Stochastic weight averaging (`trainer/loop/weight_averaging.py`).

  Attributes:
    fraction: The model decoded, exported and pushed is the mean of the weights (batch-norm statistics included)
      snapshotted over this final share of the run; 0 = the last weights. Both validation losses are logged.
    every_steps: Steps between snapshots; 0 = at each epoch end (and the last step).
    learning_rate: > 0 = SWA's schedule: the decay ends at this rate where the averaging window starts and holds
      there through it (the encoder's at its multiplier); 0 = the schedule decays to 0 through the window.
  """

  fraction: float = 0.0
  every_steps: int = 0
  learning_rate: float = 0.0

  def validate(self) -> None:
    """Raises ConfigError naming the first key out of its range."""
    if not 0.0 <= self.fraction <= 1.0:
      raise ConfigError(f'training.averaging.fraction: must be in [0, 1] (0 = off), got {self.fraction}')
    if self.every_steps < 0:
      raise ConfigError(f'training.averaging.every_steps: must be >= 0 (0 = each epoch end), got '
                        f'{self.every_steps}')
    if self.learning_rate < 0:
      raise ConfigError(f'training.averaging.learning_rate: must be >= 0 (0 = decay to 0), got '
                        f'{self.learning_rate}')


@dataclasses.dataclass
class SamplingConfig:
  """Which training examples a step sees, and how they are varied.

  Attributes:
    shuffle_buffer: Examples held by the tf.data shuffle buffer.
    online_augmentation: Random horizontal flips in the input pipeline (on top of the build's offline copies), and
      the random zoom of `online_zoom_range`.
    online_zoom_range: With `online_augmentation`: each training example is a random square window of this
      fraction of its side (uniform in [low, high], at a random position), resized back; (1, 1) = no zoom. A new
      window every epoch.
    hue_repeat_threshold: Repeat-factor sampling by hue (`trainer/input/hue_sampling.py`, after LVIS's): a training
      photo holding a hue sector that only a share f of the photos hold is drawn max(1, sqrt(t / f)) times per
      pass on average, for this threshold t (shares counted on a sample of the training split); 0 = off.
  """

  shuffle_buffer: int = 1024
  online_augmentation: bool = False
  online_zoom_range: tuple[float, float] = (1.0, 1.0)
  hue_repeat_threshold: float = 0.0

  def validate(self) -> None:
    """Raises ConfigError naming the first key out of its range."""
    if not 0.0 <= self.hue_repeat_threshold <= 1.0:
      raise ConfigError(f'training.sampling.hue_repeat_threshold: must be in [0, 1] (0 = off), got '
                        f'{self.hue_repeat_threshold}')
    low, high = self.online_zoom_range
    if not 0 < low <= high <= 1:
      raise ConfigError(f'training.sampling.online_zoom_range: need 0 < low <= high <= 1, got {(low, high)}')


@dataclasses.dataclass
class TrainingConfig:
  """Distributed training of the colorizer.

  Attributes:
    epochs: Passes over the training split.
    batch_size_per_replica: Examples per replica per step; the global batch is this times the replica count.
    strategy: `auto` picks MultiWorkerMirrored when TF_CONFIG/CLUSTER_SPEC lists several workers, Mirrored
      over local GPUs (or `cpu_devices` logical CPUs), else the default strategy.
    cpu_devices: Split the CPU into this many logical devices for MirroredStrategy (0 = do not split).
    checkpoint_every_steps: Steps between checkpoints used to resume after a crash.
    worker_start_timeout_seconds: How long a worker waits for its peers before giving up with an error.
    precision: `float32`, `mixed_bfloat16` (bf16 compute, float32 weights; no loss scaling needed),
      `mixed_float16` (the optimizer scales the loss dynamically), `bfloat16_decoder` (float32, except the unet
      decoder's dense 3x3 convolutions, which compute in bfloat16: the ops bfloat16 speeds up on CPUs with
      AVX512_BF16, `trainer/loop/schedule.py`) or `auto`: mixed_bfloat16 on GPUs of compute capability >= 8.0,
      mixed_float16 on 7.x, float32 on CPUs.
    xla: Compile the training step with XLA on GPUs (ignored on CPUs, where XLA's depthwise convolutions are
      slower than TensorFlow's own: docs/benchmarks.md).
    time_budget_seconds: Stop training (then the end-of-run evaluation, decoding choice and export as usual)
      once the step loop has run this long; 0 = no budget, train `epochs`. Single-worker runs only (workers would
      disagree on the last step).
    synthetic_input: Feed random tensors instead of records (input-pipeline benchmarks).
    warm_start_from: Start the colorizer from an earlier run's weights instead of ImageNet's encoder alone: an
      exported or pushed model folder (its `warm_start/colorizer_weights.npz`) or such a weights file, local or
      gs://; a relative path missing from the working directory is taken from the project (the shipped
      `trainer/pretrained/` colorizer). The file's model must have the same variant, loss and layer sizes. A run
      resuming from its own checkpoint ignores it. '' = no warm start.
    warm_start_from_blessed: TFX pipelines: start from the latest blessed model of this pipeline when there is
      one (TFX's `base_model`, from the same resolver as the evaluator's baseline), else from `warm_start_from`.
      The trainer then re-runs whenever a new model was blessed, even on unchanged examples.
    runtime_exports: Also write the network core as TFLite (float16 and int8 dynamic-range weights) and ONNX files
      next to the SavedModel (`<SavedModel>/runtimes/`, `contracts/runtime_exports.py`), which `colorize --runtime`
      runs without TensorFlow. false skips the conversions; the exports' manifest then says so.
    optimizer: The optimizer.
    schedule: The learning-rate schedule and the frozen-encoder phase.
    averaging: Stochastic weight averaging.
    sampling: Shuffling, online augmentation and repeat-factor sampling.
  """

  epochs: int = 10
  batch_size_per_replica: int = 16
  strategy: Literal['auto', 'default', 'mirrored', 'multi_worker'] = 'auto'
  cpu_devices: int = 0
  checkpoint_every_steps: int = 100
  worker_start_timeout_seconds: float = 300.0
  precision: Literal['auto', 'float32', 'mixed_bfloat16', 'mixed_float16', 'bfloat16_decoder'] = 'auto'
  xla: bool = False
  time_budget_seconds: float = 0.0
  synthetic_input: bool = False
  warm_start_from: str = ''
  warm_start_from_blessed: bool = False
  runtime_exports: bool = True
  optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
  schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
  averaging: AveragingConfig = dataclasses.field(default_factory=AveragingConfig)
  sampling: SamplingConfig = dataclasses.field(default_factory=SamplingConfig)

  def validate(self) -> None:
    """Raises ConfigError naming the first key out of its range."""
    self.schedule.validate()
    self.averaging.validate()
    self.sampling.validate()
    if self.batch_size_per_replica < 1:
      raise ConfigError('training.batch_size_per_replica: must be >= 1')
    if self.time_budget_seconds < 0:
      raise ConfigError(f'training.time_budget_seconds: must be >= 0 (0 = no budget), got '
                        f'{self.time_budget_seconds}')
