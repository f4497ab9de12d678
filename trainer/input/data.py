"""tf.data input from the dataset build's gzip TFRecord shards (or synthetic tensors for benchmarks).

Reads the contract of the stage before it: the manifest (`contracts.dataset_version`) for image size and shard
lists, and `contracts.schema` for feature names and scaling. Nothing here re-derives them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Sequence

import tensorflow as tf

from contracts import dataset_version
from contracts import schema
from trainer.input import hue_sampling
from trainer import scaling

TRAINING_SAMPLE = 2000  # training examples the trainer's statistics (rebalancing histogram, hue repeat factors) use


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What the trainer needs to know about a dataset version (from its manifest)."""
  version_dir: str
  image_size: int
  examples: dict[str, int]
  files: dict[str, list[str]]
  embedding_size: int = 0   # > 0 when the dataset build precomputed embeddings into the records
  embedding_name: str = ''


def _shard_uri(version_dir: str, shard: str) -> str:
  """A manifest's shard entry: relative to the version folder, or absolute (a training view's, see
  `trainer.train._dataset_dir_of`)."""
  if '://' in shard or shard.startswith('/'):
    return shard
  return f'{version_dir.rstrip("/")}/{shard}'


def dataset_info(path: str) -> DatasetInfo:
  """Reads the manifest of the dataset version at (or LATEST under) `path`."""
  manifest = dataset_version.read_manifest(path)
  version_dir = manifest['version_dir']
  files = {split: [_shard_uri(version_dir, shard) for shard in s['shards']]
           for split, s in manifest['splits'].items()}
  embedding = manifest.get('embedding') or {}
  return DatasetInfo(version_dir=version_dir, image_size=int(manifest['image_size']),
                     examples={split: s['examples'] for split, s in manifest['splits'].items()},
                     files=files, embedding_size=int(embedding.get('size', 0)),
                     embedding_name=embedding.get('name', ''))


def _split_of(pattern: str) -> tuple[str, str]:
  """(dataset version, split name) of a TFX split file pattern `<examples>/Split-<name>/*` (`io_utils.all_files_pattern`)."""
  folder = pattern.rstrip('/*')
  prefix = 'Split-'  # TFX's split folder naming (artifact_utils.get_split_uris)
  name = os.path.basename(folder)
  if not name.startswith(prefix):
    raise ValueError(f'{pattern}: not a split of an Examples artifact (expected <examples>/{prefix}<split>/*)')
  return os.path.dirname(folder), name[len(prefix):]


def dataset_for_splits(files: list[str], eval_files: list[str] | None = None, view_dir: str | None = None) -> str:
  """The dataset version to train on, given TFX's split file patterns (`fn_args.train_files`/`eval_files`).

  When they are the version's own `train` (and `eval`) splits, the version itself. Otherwise (other splits, several
  splits, or splits of several versions) a view is written under `view_dir`: a manifest that copies the first
  version's and lists the requested shards (absolute URIs) as `train` and `eval`, with their example counts.
  """
  if not files:
    raise ValueError('no training files (train_args.splits names no split of the examples)')
  wanted = {'train': [_split_of(f) for f in files], 'eval': [_split_of(f) for f in eval_files or []]}
  versions = {version for pairs in wanted.values() for version, _ in pairs}
  for version in versions:
    if not dataset_version.is_complete(version):
      raise ValueError(f'no dataset manifest ({schema.MANIFEST_FILE}) in {version}, the examples of {files[0]}')
  first = wanted['train'][0][0]
  if wanted['train'] == [(first, 'train')] and (eval_files is None or wanted['eval'] == [(first, 'eval')]):
    return first  # the version's own splits
  if view_dir is None:
    raise ValueError(f'training on splits {wanted} needs a folder for the dataset view')
  manifests = {version: dataset_version.read_manifest(version) for version in versions}
  view = {k: v for k, v in manifests[first].items() if k != 'version_dir'}
  view['splits'] = {}
  for role, pairs in wanted.items():
    shards, examples = [], 0
    for version, split in pairs:
      if split not in manifests[version]['splits']:
        raise ValueError(f'{version}: has no split {split!r} (it has {sorted(manifests[version]["splits"])})')
      shards += sorted(tf.io.gfile.glob(os.path.join(version, schema.split_file_pattern(split))))
      examples += int(manifests[version]['splits'][split]['examples'])
    view['splits'][role] = {'shards': shards, 'examples': examples, 'from': [f'{v}:{s}' for v, s in pairs]}
  tf.io.gfile.makedirs(view_dir)
  with tf.io.gfile.GFile(os.path.join(view_dir, schema.MANIFEST_FILE), 'w') as f:
    f.write(json.dumps(view, indent=2, sort_keys=True))
  return view_dir


def _to_model_io(parsed: dict[str, Any], image_size: int, with_embedding: bool):
  l, ab, mask = schema.decode_lab_tf(parsed, image_size)
  features = {'l': scaling.scale_l(l)}
  if with_embedding:
    features['embedding'] = parsed[schema.EMBEDDING]
  return features, {'ab': scaling.scale_ab(ab), 'mask': mask}


def _random_flip(features, targets):
  """Flips L, ab and the mask together (the embedding of a mirrored photo is the same photo's)."""
  flip = tf.random.uniform([]) < 0.5
  mirror = lambda x: tf.cond(flip, lambda: tf.reverse(x, axis=[1]), lambda: x)
  return ({**features, 'l': mirror(features['l'])},
          {'ab': mirror(targets['ab']), 'mask': mirror(targets['mask'])})


def _random_zoom(features, targets, image_size: int, low: float, high: float):
  """A random square window of `low`..`high` of the side, resized back: L and ab bilinear, the mask nearest.

  Each epoch then sees every photo at another scale and position (the offline copies are fixed at build time). The
  precomputed embedding, if any, is the whole photo's: a zoom keeps what the photo shows, as a flip does.
  """
  fraction = tf.random.uniform([], low, high)
  top = tf.random.uniform([], 0.0, 1.0 - fraction)
  left = tf.random.uniform([], 0.0, 1.0 - fraction)
  boxes = tf.reshape(tf.stack([top, left, top + fraction, left + fraction]), [1, 4])

  def window(x, method):
    resized = tf.image.crop_and_resize(tf.cast(x[None], tf.float32), boxes, [0], [image_size, image_size],
                                       method=method)
    return tf.cast(resized[0], x.dtype)

  return ({**features, 'l': window(features['l'], 'bilinear')},
          {'ab': window(targets['ab'], 'bilinear'), 'mask': window(targets['mask'], 'nearest')})


def _repeat_by_hue(records: tf.data.Dataset, spec, image_size: int, factors: Sequence[float],
                   seed: int | None) -> tf.data.Dataset:
  """Each serialized record repeated by its photo's hue repeat factor, rounded stochastically (a new draw each
  pass); the records stay serialized, so the shuffle buffer holds what it holds without the sampling."""
  factors = [float(f) for f in factors]

  def count(record):
    _, ab, mask = schema.decode_lab_tf(tf.io.parse_single_example(record, spec), image_size)
    return record, hue_sampling.stochastic_count(hue_sampling.photo_repeat_factor_tf(ab, mask, factors), seed)

  counted = records.map(count, num_parallel_calls=tf.data.AUTOTUNE, deterministic=seed is not None)
  return counted.flat_map(lambda record, n: tf.data.Dataset.from_tensors(record).repeat(n))


def make_dataset(files: list[str], image_size: int, batch_size: int, *, training: bool, shuffle_buffer: int = 1024,
                 embedding_size: int = 0, seed: int | None = None, repeat: bool = False,
                 augment: bool = False, zoom_range: tuple[float, float] = (1.0, 1.0),
                 repeat_factors: Sequence[float] | None = None) -> tf.data.Dataset:
  """Batches of ({'l': [B,S,S,1]} (+ 'embedding'), {'ab': [B,S,S,2] scaled, 'mask': [B,S,S,1]}).

  Files are read in parallel (interleave) and sharded by file under multi-worker strategies (tf.data's FILE
  autosharding: the dataset build writes at least as many train shards as workers). `augment`: random flips, and
  a random zoom into a window of `zoom_range` of the side when that is not (1, 1). `repeat_factors` (training):
  the hue sectors' repeat factors (`trainer/input/hue_sampling.py`); each record then appears its photo's factor times
  per pass on average, before the shuffle spreads the repeats apart.
  """
  if not files:
    raise ValueError('no TFRecord files to read')
  spec = schema.feature_spec(embedding_size)
  ds = tf.data.Dataset.from_tensor_slices(files)
  if training:
    ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
  ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type='GZIP'),
                     cycle_length=min(len(files), 8), num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
  if training and repeat_factors is not None:
    ds = _repeat_by_hue(ds, spec, image_size, repeat_factors, seed)
  if training:
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
  if repeat:
    ds = ds.repeat()
  ds = ds.map(lambda r: _to_model_io(tf.io.parse_single_example(r, spec), image_size, bool(embedding_size)),
              num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
  if augment:
    ds = ds.map(_random_flip, num_parallel_calls=tf.data.AUTOTUNE)
    low, high = zoom_range
    if low < 1.0:
      ds = ds.map(lambda f, t: _random_zoom(f, t, image_size, low, high), num_parallel_calls=tf.data.AUTOTUNE)
  return ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def training_sample(files: list[str], image_size: int, examples: int = TRAINING_SAMPLE):
  """Batches (ab in ab units, mask) as NumPy of the first ~`examples` records, in file order: what the trainer's
  statistics of the training split are counted on."""
  for _, targets in make_dataset(files, image_size, 64, training=False).take(max(1, examples // 64)):
    yield scaling.unscale_ab(targets['ab']).numpy(), targets['mask'].numpy()


def hue_repeat_plan(files: list[str], image_size: int, threshold: float) -> hue_sampling.Plan:
  """Repeat-factor sampling's plan for `threshold`, counted on the training sample."""
  return hue_sampling.plan(((ab, mask) for ab_batch, mask_batch in training_sample(files, image_size)
                            for ab, mask in zip(ab_batch, mask_batch)), threshold)


def training_repeat_plan(info: DatasetInfo, training) -> hue_sampling.Plan | None:
  """The run's repeat-factor sampling plan (printed), or None when `training.sampling.hue_repeat_threshold` is 0."""
  if not training.sampling.hue_repeat_threshold:
    return None
  plan = hue_repeat_plan(info.files['train'], info.image_size, training.sampling.hue_repeat_threshold)
  print(plan.describe(), flush=True)
  return plan


def synthetic_dataset(image_size: int, batch_size: int, embedding_size: int = 0) -> tf.data.Dataset:
  """Random tensors of the real shapes, repeated: measures the model without the input pipeline."""
  l = tf.random.uniform([batch_size, image_size, image_size, 1], -1.0, 1.0, seed=0)
  features = {'l': l}
  if embedding_size:
    features['embedding'] = tf.random.uniform([batch_size, embedding_size], seed=1)
  targets = {'ab': tf.random.uniform([batch_size, image_size, image_size, 2], -0.5, 0.5, seed=2),
             'mask': tf.ones([batch_size, image_size, image_size, 1])}
  return tf.data.Dataset.from_tensors((features, targets)).repeat()
