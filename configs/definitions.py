"""Typed configuration of every pipeline stage.

Long by design, one story: every documented field of every stage in one place.

One `PipelineConfig` object is loaded once (from YAML plus command-line overrides, see `configs.loading`) and
handed to every stage; no stage reads YAML on its own. Each dataclass documents its fields in an `Attributes:`
section, in the style of tensorflow/models `official/`. The module reads as one story (one dataclass per stage,
then the whole pipeline's cross-field checks), hence its length.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

# How many times each model variant's encoder downsamples: image sides must be multiples of it.
VARIANT_DOWNSAMPLING = {'unet': 32, 'fusion': 8, 'beta': 8}


@dataclasses.dataclass
class AugmentationConfig:
  """Random geometric augmentation of the training split (the ImageDataGenerator set of the Keras colorizers).

  Attributes:
    copies: Augmented copies written per training photo, in addition to the unaugmented original (copy 0).
    horizontal_flip: Flip left-right with probability 1/2.
    max_rotation_degrees: Rotation drawn uniformly from [-max, max].
    max_shear_degrees: Horizontal shear angle drawn uniformly from [-max, max].
    zoom_range: Crop a window of this fraction of the shorter side (uniform in [low, high]) before resizing.
  """

  copies: int = 0
  horizontal_flip: bool = True
  max_rotation_degrees: float = 10.0
  max_shear_degrees: float = 10.0
  zoom_range: tuple[float, float] = (0.8, 1.0)


@dataclasses.dataclass
class DataConfig:
  """The dataset build: raw colour photos in, sharded Lab TFRecords out.

  Attributes:
    input_uri: Where the photos are. A folder (searched recursively), a glob, a `gs://` folder or glob,
      `manifest:<path>` (one URI per line) or `tfds:<name>[/<split>]` (a prepared TFDS dataset).
    output_dir: Root folder (local or `gs://`) under which each build writes a new versioned folder.
    image_size: Side of the square Lab images written to the records.
    resize_mode: `crop` (shorter side to `image_size`, then centre crop) or `letterbox` (whole image, padded,
      with a padding mask the trainer uses to exclude padding from the loss).
    min_side: Photos whose shorter side is smaller than this go to the dead letters as `too_small`.
    max_pixels: Photos with more pixels than this go to the dead letters as `too_large` (decompression bombs).
    grayscale_chroma_threshold: A photo with no pixel where |a| or |b| exceeds this is a grayscale source.
    drop_duplicates: Drop exact duplicates (same decoded-file content hash); the first URI in sort order wins.
    split_ratios: Fraction of photos per split, chosen by hashing the content hash. Must sum to 1.
    shards: Number of TFRecord shards per split; the train count must be at least the number of workers.
    seed: Mixed into every per-photo hash, so a different seed gives a different (but reproducible) build.
    augmentation: Augmentation of the training split.
    compression_level: ISA-L deflate level (0-3) of the gzip TFRecord shards (higher: smaller files, slower).
    photo_pool: How each Beam worker parallelizes the per-photo work: `process` (a pool of processes started from
      a forkserver, never forked from the Beam worker; the faster on a multi-core machine) or `thread` (for
      runners that already run one SDK process per core).
    photo_workers: Size of that pool (0 = number of cores).
    tfds_data_dir: TFDS data_dir for `tfds:` inputs (empty = TFDS's default, ~/tensorflow_datasets).
    precompute_embeddings: Run the model's frozen embedder in the Beam job and store its output per record.
    spill_records: Park compressed records in spill files under the version folder (one per batch of photos) and
      shuffle only their locations (default: far less data through the runner's shuffle). False sends the records
      themselves through the runner's shuffle, which may suit a runner with a shuffle service better than many
      small range reads.
  """

  input_uri: str = 'sample_photos'
  output_dir: str = 'outputs/datasets'
  image_size: int = 256
  resize_mode: Literal['crop', 'letterbox'] = 'crop'
  min_side: int = 32
  max_pixels: int = 64_000_000  # contracts.limits.MAX_PIXELS (configs import nothing of ours; a test checks)
  grayscale_chroma_threshold: float = 5.0
  drop_duplicates: bool = True
  split_ratios: dict[str, float] = dataclasses.field(
      default_factory=lambda: {'train': 0.8, 'eval': 0.1, 'test': 0.1})
  shards: dict[str, int] = dataclasses.field(default_factory=lambda: {'train': 4, 'eval': 1, 'test': 1})
  seed: int = 0
  augmentation: AugmentationConfig = dataclasses.field(default_factory=AugmentationConfig)
  compression_level: int = 1
  photo_pool: Literal['process', 'thread'] = 'process'
  photo_workers: int = 0
  tfds_data_dir: str = ''
  precompute_embeddings: bool = False
  spill_records: bool = True


@dataclasses.dataclass
class ModelConfig:
  """The colorizer: L in, ab out.

  Attributes:
    variant: `unet` (an ImageNet-pretrained EfficientNet-Lite0 as the encoder of a U-Net, with the pooled embedding
      fused at the bottleneck; `trainer/networks/unet.py`), `fusion` (an encoder trained from scratch with a frozen ImageNet
      embedder's output fused in; Deep Koalarization) or `beta` (encoder-decoder only). Image sides must be
      multiples of the variant's downsampling: 32 for `unet`, 8 for the others.
    embedder: The ImageNet classifier: the encoder of `unet` (efficientnet_lite0 only), the frozen embedder of
      `fusion`.
    embedder_weights: Local or `gs://` path of the embedder's weights; empty means the default location
      (the converted EfficientNet-Lite0 cache, or Keras' download cache for Inception-ResNet-v2).
    loss: `classification` over the in-gamut ab bins of grid 10 (Zhang et al.'s 313; 264 derived from 8-bit sRGB
      here, see trainer/objective/color_bins.py), `mse` or `huber` regression of ab, or `l1_chroma`: L1 on ab plus a
      penalty on predicted chroma below `chroma_boost` x the true chroma (regression that does not average
      towards brown; DDColor/BigColor-style saturation target), or `classification+l1_chroma`: both, as two heads
      on one decoder (Zhang et al. 2017 train the same pair), the loss being the cross-entropy plus
      `regression_weight` x l1_chroma; each pixel is served the more saturated of the two heads' ab (the bins
      decoded as chosen on the eval split).
    encoder_filters: Filters of the stride-2 encoder stages (`beta`, `fusion`).
    decoder_filters: Filters of the U-Net decoder stages at strides 16, 8, 4 and 2 (`unet`).
    fusion_channels: Channels of the 1x1 convolution that mixes the tiled embedding into the bottleneck.
    rebalance_lambda: Class-rebalancing mix between the empirical bin distribution and uniform.
    annealed_mean_temperature: Temperature of the annealed-mean decoding of the bin distribution, used when
      `temperature_candidates` is empty or there is no eval split.
    temperature_candidates: After training, the temperature is chosen among these (jointly with the prior
      correction) on the eval split: the pair with the highest hue-balanced recall among those whose ΔPSNR vs gray
      is >= -temperature_max_psnr_cost (else the best ΔPSNR). The choice is stored next to the model
      (`color_bins.json`) and baked into the serving graph (trainer/objective/decoding.py).
    prior_correction: Decoding-time prior correction s: the logits get s x log(rebalancing weight) before the
      annealed mean, so colours rare in the training photos win where the network hesitates (used when
      `temperature_candidates` is empty or there is no eval split).
    prior_correction_candidates: The strengths tried with each temperature: 0 = the network's distribution as
      trained (rebalanced), < 0 undoes the training's rebalancing towards the photos' own statistics (duller,
      safer PSNR), > 0 favours rare colours further (more hues, more wrong ones).
    temperature_max_psnr_cost: How many dB of PSNR against gray the chosen decoding (the bins' (T, s), a
      regression's chroma gain) may cost (0: only decodings with ΔPSNR >= 0 qualify). Keep it within the gate's
      `-evaluation.min_delta_psnr`.
    decoding_hue_tolerance: Hue-balanced recalls within this of the best qualifying one are a tie, settled by the
      better ΔPSNR: a decoding does not spend fidelity on a hue-recall gain below the eval split's resolution.
    chroma_gain: Regression losses: the served ab is the network's times this (used when `chroma_gain_candidates`
      is empty or there is no eval split).
    chroma_gain_candidates: Regression losses: after training the gain is chosen among these on the eval split,
      with the bins' criterion (the best hue-balanced recall among ΔPSNR >= -temperature_max_psnr_cost), stored in
      `decoding.json` next to the model and baked into the serving graph. `l1_chroma` and class-rebalanced
      regression aim above the true chroma on purpose; a gain < 1 takes back what costs fidelity.
    flip_averaging: Serve the prediction for the photo combined with the one for its mirror image, mirrored back
      (test-time augmentation; how: `flip_averaging_chroma`), at the cost of a second network pass per photo. The
      decoding is chosen on the combined output.
    flip_averaging_chroma: With `flip_averaging`, for an ab output (regression losses): `keep` serves the mean
      ab vector's hue at the mean of the two predictions' chromas, `mean` the mean vector itself, which is grayer
      wherever the two disagree on the hue. Bin logits (the classification losses) are always averaged.
    chroma_boost: `l1_chroma`: the chroma the prediction is pushed towards, as a multiple of the true chroma.
    chroma_weight: `l1_chroma`: weight of the chroma term against the L1 term.
    regression_weight: `classification+l1_chroma`: weight of the regression head's loss (on scaled ab, a small
      number) against the cross-entropy (in nats, a larger one); the default gives both heads' gradients a
      similar say.
    regression_rebalancing: Class rebalancing for the regression losses (and the two-head variant's regression
      head), in [0, 1]: each pixel's loss is scaled by w^this, w being the classification's rebalancing weight
      (`rebalance_lambda`) of its true colour's bin, renormalized to average 1 over the training photos. 0 = off;
      1 = the cross-entropy's full rebalancing. Rare colours (green, cyan, purple) then weigh as much as the
      browns that fill most photos, which a median regression otherwise settles on.
  """

  variant: Literal['unet', 'fusion', 'beta'] = 'unet'
  embedder: Literal['efficientnet_lite0', 'inception_resnet_v2'] = 'efficientnet_lite0'
  embedder_weights: str = ''
  loss: Literal['classification', 'mse', 'huber', 'l1_chroma', 'classification+l1_chroma'] = 'classification'
  encoder_filters: list[int] = dataclasses.field(default_factory=lambda: [64, 128, 256])
  decoder_filters: list[int] = dataclasses.field(default_factory=lambda: [128, 64, 48, 32])
  fusion_channels: int = 256
  rebalance_lambda: float = 0.5
  annealed_mean_temperature: float = 0.38
  temperature_candidates: list[float] = dataclasses.field(
      default_factory=lambda: [0.2, 0.25, 0.3, 0.38, 0.46, 0.56, 0.7, 0.85, 1.0])
  prior_correction: float = 0.0
  prior_correction_candidates: list[float] = dataclasses.field(
      default_factory=lambda: [-1.0, -0.5, -0.25, -0.1, 0.0, 0.25, 0.5, 1.0])
  temperature_max_psnr_cost: float = 0.0
  decoding_hue_tolerance: float = 0.01
  chroma_boost: float = 1.2
  chroma_weight: float = 0.5
  regression_weight: float = 10.0
  regression_rebalancing: float = 0.0
  chroma_gain: float = 1.0
  chroma_gain_candidates: list[float] = dataclasses.field(
      default_factory=lambda: [0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.1, 1.2])
  flip_averaging: bool = False
  flip_averaging_chroma: Literal['keep', 'mean'] = 'keep'

  @property
  def bins_head(self) -> bool:
    """The network outputs bin logits (`classification`, `classification+l1_chroma`)."""
    return self.loss.startswith('classification')

  @property
  def regression_loss(self) -> str | None:
    """The loss of the network's ab regression head (`l1_chroma` for `classification+l1_chroma`); None without one."""
    return None if self.loss == 'classification' else self.loss.rpartition('+')[2]


@dataclasses.dataclass
class TrainingConfig:
  """Distributed training of the colorizer.

  Attributes:
    epochs: Passes over the training split.
    batch_size_per_replica: Examples per replica per step; the global batch is this times the replica count.
    learning_rate: Adam learning rate.
    weight_decay: Decoupled weight decay (AdamW, as DDColor and ConvNeXt fine-tune): each step shrinks every
      kernel by learning rate x this; biases and batch-norm scales and offsets are exempt. 0 = plain Adam.
    strategy: `auto` picks MultiWorkerMirrored when TF_CONFIG/CLUSTER_SPEC lists several workers, Mirrored
      over local GPUs (or `cpu_devices` logical CPUs), else the default strategy.
    cpu_devices: Split the CPU into this many logical devices for MirroredStrategy (0 = do not split).
    shuffle_buffer: Examples held by the tf.data shuffle buffer.
    online_augmentation: Random horizontal flips in the input pipeline (on top of the build's offline copies), and
      the random zoom of `online_zoom_range`.
    online_zoom_range: With `online_augmentation`: each training example is a random square window of this
      fraction of its side (uniform in [low, high], at a random position), resized back; (1, 1) = no zoom. Unlike
      the build's copies, a new window every epoch.
    hue_repeat_threshold: Repeat-factor sampling by hue (`trainer/input/hue_sampling.py`, after LVIS's): a training
      photo holding a hue sector that only a share f of the photos hold is drawn max(1, sqrt(t / f)) times per
      pass on average, for this threshold t (the sectors' shares are counted on a sample of the training split);
      0 = off. The exported weights' header records the factors (`hue_repeat_sampling`).
    checkpoint_every_steps: Steps between checkpoints used to resume after a crash.
    worker_start_timeout_seconds: How long a worker waits for its peers before giving up with an error.
    precision: `float32`, `mixed_bfloat16` (bf16 compute, float32 weights; no loss scaling needed),
      `mixed_float16` (the optimizer scales the loss dynamically), `bfloat16_decoder` (float32, except the unet
      decoder's dense 3x3 convolutions, which compute in bfloat16: the ops that bfloat16 speeds up on CPUs with
      AVX512_BF16, `trainer/loop/schedule.py`) or `auto`: mixed_bfloat16 on GPUs of compute capability >= 8.0,
      mixed_float16 on 7.x, float32 on CPUs (whole-network bfloat16 is slower there: docs/benchmarks.md).
    lr_schedule: `cosine` (linear warm-up, then cosine decay to 0 over the run) or `constant` (after warm-up).
    warmup_fraction: Share of the run spent warming the learning rate up linearly from 0.
    frozen_encoder_fraction: `unet`: share of the run during which the pretrained encoder is frozen (only the
      decoder learns); then everything trains, the encoder at `encoder_learning_rate_multiplier` x the rate
      (DeOldify's NoGAN schedule). The run's progress is steps / total steps, or elapsed / budget under a time
      budget, whichever is further.
    encoder_learning_rate_multiplier: `unet`: the encoder's learning rate relative to the decoder's once unfrozen.
    weight_averaging_fraction: Stochastic weight averaging (`trainer/loop/weight_averaging.py`): the model decoded,
      exported and pushed is the mean of the weights (batch-norm statistics included) snapshotted over this final
      share of the run, at each epoch end and at the last step; 0 = the last weights. The last weights' and the
      mean's validation losses are both logged.
    weight_averaging_every_steps: Steps between those snapshots; 0 = at each epoch end.
    weight_averaging_learning_rate: With weight averaging: > 0 = SWA's schedule, the decay ends at this rate where
      the averaging window starts and the rate holds there through it (the encoder's at its multiplier); 0 = the
      schedule decays to 0 through the window as without averaging.
    xla: Compile the training step with XLA on GPUs (ignored on CPU, where XLA's kernels for the unet's depthwise
      convolutions are slow: docs/benchmarks.md).
    time_budget_seconds: Stop training (then the end-of-run evaluation, decoding choice and export as usual)
      once the step loop has run this long; 0 = no budget, train `epochs`. The learning-rate schedule and the
      frozen phase follow the elapsed share of the budget when it is ahead of the steps' share, so a budgeted
      run still warms up, unfreezes and decays. Single-worker runs only (workers would disagree on the last
      step); `make demo` uses it to stay within its minutes on any machine.
    synthetic_input: Feed random tensors instead of records (input-pipeline benchmarks).
    warm_start_from: Start the colorizer from an earlier run's weights instead of ImageNet's encoder alone: an
      exported or pushed model folder (its `warm_start/colorizer_weights.npz`) or such a weights file, local or
      gs://; a relative path missing from the working directory is taken from the project (the shipped
      `trainer/pretrained/` colorizer). The file's model must have the same variant, loss and layer sizes. A run
      resuming from its own checkpoint ignores it. '' = no warm start.
    warm_start_from_blessed: TFX pipelines: start from the latest blessed model of this pipeline when there is
      one (TFX's `base_model`, from the same resolver as the evaluator's baseline), else from `warm_start_from`.
      Each scheduled run then fine-tunes the model it may replace; the trainer re-runs whenever a new model was
      blessed, even on unchanged examples.
  """

  epochs: int = 10
  batch_size_per_replica: int = 16
  learning_rate: float = 1e-3
  weight_decay: float = 0.0
  strategy: Literal['auto', 'default', 'mirrored', 'multi_worker'] = 'auto'
  cpu_devices: int = 0
  shuffle_buffer: int = 1024
  online_augmentation: bool = False
  online_zoom_range: tuple[float, float] = (1.0, 1.0)
  hue_repeat_threshold: float = 0.0
  checkpoint_every_steps: int = 100
  worker_start_timeout_seconds: float = 300.0
  precision: Literal['auto', 'float32', 'mixed_bfloat16', 'mixed_float16', 'bfloat16_decoder'] = 'auto'
  lr_schedule: Literal['cosine', 'constant'] = 'cosine'
  warmup_fraction: float = 0.05
  frozen_encoder_fraction: float = 0.3
  encoder_learning_rate_multiplier: float = 0.1
  weight_averaging_fraction: float = 0.0
  weight_averaging_every_steps: int = 0
  weight_averaging_learning_rate: float = 0.0
  xla: bool = False
  time_budget_seconds: float = 0.0
  synthetic_input: bool = False
  warm_start_from: str = ''
  warm_start_from_blessed: bool = False


@dataclasses.dataclass
class EvaluationConfig:
  """The quality gate: absolute thresholds, two reference predictors, and allowed change against the baseline.

  Every candidate is scored next to two references on the same examples: no colour (ab = 0) and a constant sepia
  tint (ab = (6, 18)), which fools colourfulness but not the hue-balanced recall. The gate is set so neither
  reference can pass it.

  Attributes:
    min_delta_psnr: Candidate PSNR minus the gray baseline's PSNR must be at least this (dB).
    min_hue_recall: Smallest allowed hue-balanced recall (mean over the six hue sectors, `trainer.objective.metrics`).
    min_hue_recall_vs_sepia: The candidate's hue-balanced recall must be at least this multiple of the constant
      sepia reference's on the same examples (> 1: a tint cannot pass).
    min_sector_recall: Smallest allowed recall in any hue sector that has truly coloured pixels.
    min_colorfulness_ratio: Smallest allowed mean CF(pred) / mean CF(truth) (gray scores 0).
    max_desaturation_rate: Largest allowed share of images with CF(pred) < 0.25 CF(truth).
    max_delta_colorfulness: Largest allowed |mean CF(pred) - mean CF(truth)|.
    max_psnr_regression: Largest allowed PSNR drop against the baseline model (dB). The baseline is the model the
      candidate started from (the warm-start weights, which the trainer exports next to the candidate as
      `Start-Serving`) when there is one, else the latest blessed model; both are scored on the same examples.
    max_hue_recall_regression: Largest allowed drop of the hue-balanced recall against the baseline model
      (0.01 = one point).
    max_colorfulness_regression: Largest allowed ΔCF increase against the baseline model.
    report_samples: Sample colorizations shown in the HTML report.
    split: The dataset split the gate scores. `test` by default: the trainer chooses its decoding (temperature or
      chroma gain) on `eval`, so a gate on `eval` would judge the model on the photos it was tuned on.
  """

  split: str = 'test'
  min_delta_psnr: float = 0.0
  min_hue_recall: float = 0.0
  min_hue_recall_vs_sepia: float = 1.5
  min_sector_recall: float = 0.0
  min_colorfulness_ratio: float = 0.3
  max_desaturation_rate: float = 0.5
  max_delta_colorfulness: float = 40.0
  max_psnr_regression: float = 0.1
  max_hue_recall_regression: float = 0.01
  max_colorfulness_regression: float = 2.0
  report_samples: int = 12


@dataclasses.dataclass
class PushConfig:
  """Where a blessed model goes.

  Attributes:
    destination: Local folder or `gs://` prefix; each push lands in `<destination>/<unix timestamp>/`.
    fallback_to_start_model: When the candidate is not blessed but the model it started from (its warm-start
      weights, exported next to it) passes the gate's absolute thresholds on the same examples, push that model
      instead: a run never pushes a colorizer worse than the one it started from, and a first run still serves
      one. The pushed model records which it is (`pushed_model_source`: `candidate` or `start`).
  """

  destination: str = 'outputs/serving_model'
  fallback_to_start_model: bool = False


@dataclasses.dataclass
class RunnerConfig:
  """How and where the pipeline runs.

  Attributes:
    kind: `local` (Beam's in-process runner and LocalDagRunner with SQLite ML Metadata) or `vertex`
      (Dataflow for Beam, Vertex AI Pipelines for the DAG).
    pipeline_name: Name of the TFX pipeline (also the ML Metadata context).
    pipeline_root: Root of the pipeline's artifacts (local or `gs://`).
    metadata_path: SQLite ML Metadata file for local runs.
    beam_runner: Beam runner for the dataset build and Beam components.
    direct_running_mode: `in_memory` or `multi_processing` for the local runner.
    direct_num_workers: Worker processes/threads for the local runner (0 = number of cores).
    beam_args: Extra Beam pipeline options, passed verbatim (e.g. `--temp_location=gs://...`).
    gcp_project: Google Cloud project for Dataflow and Vertex.
    gcp_region: Google Cloud region for Dataflow and Vertex.
    container_image: Image holding this project's code, for Vertex components and Dataflow workers.
    schedule_cron: Cron schedule for periodic Vertex runs; empty means run once.
    trainer_machine_type: Vertex machine type of the trainer's chief replica in a multi-worker custom job
      (`trainer_worker_count > 1`).
    trainer_accelerator_type: Vertex accelerator type of the trainer (empty for none): of the pipeline task when
      the trainer runs in it (`trainer_worker_count == 1`), of the custom job's chief otherwise.
    trainer_accelerator_count: Accelerators of the trainer (same two cases).
    trainer_cpu_limit: vCPUs of the trainer's pipeline task when it trains in it (`trainer_worker_count == 1`;
      0 = the platform default). Vertex picks the smallest machine that fits the CPU, memory and accelerators.
    trainer_memory_limit_gb: Memory (GB) of that task (0 = the platform default).
    trainer_worker_count: Trainer replicas; more than one trains with MultiWorkerMirroredStrategy in a Vertex
      custom job (one chief + `trainer_worker_count - 1` workers) started and polled by a launcher task.
    worker_machine_type: Machine type of the custom job's workers (empty = `trainer_machine_type`).
    worker_accelerator_type: Accelerator type of the workers (empty = `trainer_accelerator_type`).
    worker_accelerator_count: Accelerators per worker (-1 = `trainer_accelerator_count`).
    launcher_cpu_limit: vCPUs of the launcher task that submits and polls the multi-worker custom job (it never
      gets accelerators; 0 = the platform default).
    launcher_memory_limit_gb: Memory (GB) of the launcher task (0 = the platform default).
  """

  kind: Literal['local', 'vertex'] = 'local'
  pipeline_name: str = 'colorization'
  pipeline_root: str = 'outputs/pipeline_root'
  metadata_path: str = 'outputs/metadata.sqlite'
  beam_runner: str = 'apache_beam.runners.portability.fn_api_runner.FnApiRunner'
  direct_running_mode: Literal['in_memory', 'multi_processing', 'multi_threading'] = 'in_memory'
  direct_num_workers: int = 1
  beam_args: list[str] = dataclasses.field(default_factory=list)
  gcp_project: str = ''
  gcp_region: str = 'us-central1'
  container_image: str = ''
  schedule_cron: str = ''
  trainer_machine_type: str = 'n1-standard-8'
  trainer_accelerator_type: str = ''
  trainer_accelerator_count: int = 0
  trainer_cpu_limit: float = 8.0
  trainer_memory_limit_gb: float = 32.0
  trainer_worker_count: int = 1
  worker_machine_type: str = ''
  worker_accelerator_type: str = ''
  worker_accelerator_count: int = -1
  launcher_cpu_limit: float = 1.0
  launcher_memory_limit_gb: float = 4.0


@dataclasses.dataclass
class PipelineConfig:
  """Everything one run of the colorization pipeline needs.

  Attributes:
    data: The dataset build.
    model: The colorization model.
    training: Distributed training.
    evaluation: The quality gate.
    push: The model destination.
    runner: Orchestration and Beam execution.
  """

  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
  training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
  evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
  push: PushConfig = dataclasses.field(default_factory=PushConfig)
  runner: RunnerConfig = dataclasses.field(default_factory=RunnerConfig)

  def validate(self, sections: frozenset[str] | None = None) -> None:
    """Checks constraints that span fields; raises ConfigError naming the key.

    `sections`: only check what involves these sections (a component's config slice, see
    `configs.loading.slice_json`); None checks everything.
    """
    from configs.loading import ConfigError  # pylint: disable=g-import-not-at-top
    has = lambda *names: sections is None or all(n in sections for n in names)
    if has('data'):
      self._validate_data(ConfigError)
    if has('data', 'model'):
      downsampling = VARIANT_DOWNSAMPLING[self.model.variant]
      if self.data.image_size % downsampling:
        raise ConfigError(f'data.image_size: must be a multiple of {downsampling} for model.variant='
                          f'{self.model.variant} (its encoder downsamples {downsampling}x), got {self.data.image_size}')
    if has('evaluation') and self.evaluation.split == 'train':
      raise ConfigError('evaluation.split: the gate cannot score the training split')
    if has('model') and self.model.variant == 'unet' and len(self.model.decoder_filters) != 4:
      raise ConfigError('model.decoder_filters: needs 4 values (decoder stages at strides 16, 8, 4, 2), got '
                        f'{self.model.decoder_filters}')
    if has('model') and not all(g > 0 for g in [self.model.chroma_gain, *self.model.chroma_gain_candidates]):
      raise ConfigError(f'model.chroma_gain(_candidates): gains must be > 0, got {self.model.chroma_gain} and '
                        f'{self.model.chroma_gain_candidates}')
    if has('model') and not 0.0 <= self.model.regression_rebalancing <= 1.0:
      raise ConfigError(f'model.regression_rebalancing: must be in [0, 1] (0 = off), got '
                        f'{self.model.regression_rebalancing}')
    if has('training'):
      for key in ('warmup_fraction', 'frozen_encoder_fraction'):
        if not 0.0 <= getattr(self.training, key) < 1.0:
          raise ConfigError(f'training.{key}: must be in [0, 1), got {getattr(self.training, key)}')
      if not 0.0 <= self.training.weight_averaging_fraction <= 1.0:
        raise ConfigError(f'training.weight_averaging_fraction: must be in [0, 1] (0 = off), got '
                          f'{self.training.weight_averaging_fraction}')
      if self.training.weight_averaging_every_steps < 0:
        raise ConfigError(f'training.weight_averaging_every_steps: must be >= 0 (0 = each epoch end), got '
                          f'{self.training.weight_averaging_every_steps}')
      if self.training.weight_averaging_learning_rate < 0:
        raise ConfigError(f'training.weight_averaging_learning_rate: must be >= 0 (0 = decay to 0), got '
                          f'{self.training.weight_averaging_learning_rate}')
      if not 0.0 <= self.training.hue_repeat_threshold <= 1.0:
        raise ConfigError(f'training.hue_repeat_threshold: must be in [0, 1] (0 = off), got '
                          f'{self.training.hue_repeat_threshold}')
      low, high = self.training.online_zoom_range
      if not 0 < low <= high <= 1:
        raise ConfigError(f'training.online_zoom_range: need 0 < low <= high <= 1, got {(low, high)}')
      if self.training.batch_size_per_replica < 1:
        raise ConfigError('training.batch_size_per_replica: must be >= 1')
      if self.training.time_budget_seconds < 0:
        raise ConfigError(f'training.time_budget_seconds: must be >= 0 (0 = no budget), got '
                          f'{self.training.time_budget_seconds}')
    if has('runner'):
      for key in ('trainer_cpu_limit', 'trainer_memory_limit_gb', 'launcher_cpu_limit', 'launcher_memory_limit_gb'):
        if getattr(self.runner, key) < 0:
          raise ConfigError(f'runner.{key}: must be >= 0 (0 = the platform default), got {getattr(self.runner, key)}')
      if self.runner.trainer_worker_count < 1:
        raise ConfigError(f'runner.trainer_worker_count: must be >= 1, got {self.runner.trainer_worker_count}')

  def _validate_data(self, ConfigError) -> None:  # pylint: disable=invalid-name
    ratios = self.data.split_ratios
    if 'train' not in ratios:
      raise ConfigError('data.split_ratios: a `train` split is required')
    if any(r < 0 for r in ratios.values()) or abs(sum(ratios.values()) - 1.0) > 1e-6:
      raise ConfigError(f'data.split_ratios: ratios must be >= 0 and sum to 1, got {ratios}')
    if set(self.data.shards) != set(ratios):
      raise ConfigError(f'data.shards: needs one shard count per split {sorted(ratios)}, got {sorted(self.data.shards)}')
    for split, count in self.data.shards.items():
      if count < 1:
        raise ConfigError(f'data.shards.{split}: must be >= 1, got {count}')
    if self.data.image_size < 16:
      raise ConfigError(f'data.image_size: must be >= 16, got {self.data.image_size}')
    low, high = self.data.augmentation.zoom_range
    if not 0 < low <= high <= 1:
      raise ConfigError(f'data.augmentation.zoom_range: need 0 < low <= high <= 1, got {(low, high)}')
    if self.data.augmentation.copies < 0:
      raise ConfigError('data.augmentation.copies: must be >= 0')
    if not 0 <= self.data.compression_level <= 3:
      raise ConfigError(f'data.compression_level: must be 0..3 (ISA-L levels), got {self.data.compression_level}')
