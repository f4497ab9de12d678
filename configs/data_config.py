"""The dataset build's config: photos in, sharded Lab TFRecords out."""

from __future__ import annotations

import dataclasses
from typing import Literal

from configs.base import ConfigError


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
    compression_level: ISA-L deflate level (0-3) of the gzip TFRecord shards (higher: smaller, slower).
    photo_pool: How each Beam worker parallelizes the per-photo work: `process` (a pool of processes started from
      a forkserver, never forked from the Beam worker) or `thread` (for runners that already run one SDK process
      per core).
    photo_workers: Size of that pool (0 = number of cores).
    tfds_data_dir: TFDS data_dir for `tfds:` inputs (empty = TFDS's default, ~/tensorflow_datasets).
    precompute_embeddings: Run the model's frozen embedder in the Beam job and store its output per record.
    spill_records: Park compressed records in spill files under the version folder (one per batch of photos) and
      shuffle only their locations (less data through the runner's shuffle). False sends the records
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

  def validate(self) -> None:
    """Raises ConfigError naming the first key out of its range."""
    ratios = self.split_ratios
    if 'train' not in ratios:
      raise ConfigError('data.split_ratios: a `train` split is required')
    if any(r < 0 for r in ratios.values()) or abs(sum(ratios.values()) - 1.0) > 1e-6:
      raise ConfigError(f'data.split_ratios: ratios must be >= 0 and sum to 1, got {ratios}')
    if set(self.shards) != set(ratios):
      raise ConfigError(f'data.shards: needs one shard count per split {sorted(ratios)}, got {sorted(self.shards)}')
    for split, count in self.shards.items():
      if count < 1:
        raise ConfigError(f'data.shards.{split}: must be >= 1, got {count}')
    if self.image_size < 16:
      raise ConfigError(f'data.image_size: must be >= 16, got {self.image_size}')
    low, high = self.augmentation.zoom_range
    if not 0 < low <= high <= 1:
      raise ConfigError(f'data.augmentation.zoom_range: need 0 < low <= high <= 1, got {(low, high)}')
    if self.augmentation.copies < 0:
      raise ConfigError('data.augmentation.copies: must be >= 0')
    if not 0 <= self.compression_level <= 3:
      raise ConfigError(f'data.compression_level: must be 0..3 (ISA-L levels), got {self.compression_level}')
