"""tf.data input from the dataset build's gzip TFRecord shards (or synthetic tensors for benchmarks).

Reads the contract of the stage before it: the manifest (`contracts.dataset_version`) for image size and shard
lists, and `contracts.schema` for feature names and scaling. Nothing here re-derives them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import tensorflow as tf

from contracts import dataset_version
from contracts import schema
from trainer import model as model_lib


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


def _to_model_io(parsed: dict[str, Any], image_size: int, with_embedding: bool):
  l, ab, mask = schema.decode_lab_tf(parsed, image_size)
  features = {'l': model_lib.scale_l(l)}
  if with_embedding:
    features['embedding'] = parsed[schema.EMBEDDING]
  return features, {'ab': model_lib.scale_ab(ab), 'mask': mask}


def _random_flip(features, targets):
  """Flips L, ab and the mask together (the embedding of a mirrored photo is the same photo's)."""
  flip = tf.random.uniform([]) < 0.5
  mirror = lambda x: tf.cond(flip, lambda: tf.reverse(x, axis=[1]), lambda: x)
  return ({**features, 'l': mirror(features['l'])},
          {'ab': mirror(targets['ab']), 'mask': mirror(targets['mask'])})


def make_dataset(files: list[str], image_size: int, batch_size: int, *, training: bool, shuffle_buffer: int = 1024,
                 embedding_size: int = 0, seed: int | None = None, repeat: bool = False,
                 augment: bool = False) -> tf.data.Dataset:
  """Batches of ({'l': [B,S,S,1]} (+ 'embedding'), {'ab': [B,S,S,2] scaled, 'mask': [B,S,S,1]}).

  Files are read in parallel (interleave) and sharded by file under multi-worker strategies (tf.data's FILE
  autosharding: the dataset build writes at least as many train shards as workers).
  """
  if not files:
    raise ValueError('no TFRecord files to read')
  spec = schema.feature_spec(embedding_size)
  ds = tf.data.Dataset.from_tensor_slices(files)
  if training:
    ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
  ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type='GZIP'),
                     cycle_length=min(len(files), 8), num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
  if training:
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
  if repeat:
    ds = ds.repeat()
  ds = ds.map(lambda r: _to_model_io(tf.io.parse_single_example(r, spec), image_size, bool(embedding_size)),
              num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
  if augment:
    ds = ds.map(_random_flip, num_parallel_calls=tf.data.AUTOTUNE)
  return ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def synthetic_dataset(image_size: int, batch_size: int, embedding_size: int = 0) -> tf.data.Dataset:
  """Random tensors of the real shapes, repeated: measures the model without the input pipeline."""
  l = tf.random.uniform([batch_size, image_size, image_size, 1], -1.0, 1.0, seed=0)
  features = {'l': l}
  if embedding_size:
    features['embedding'] = tf.random.uniform([batch_size, embedding_size], seed=1)
  targets = {'ab': tf.random.uniform([batch_size, image_size, image_size, 2], -0.5, 0.5, seed=2),
             'mask': tf.ones([batch_size, image_size, image_size, 1])}
  return tf.data.Dataset.from_tensors((features, targets)).repeat()
