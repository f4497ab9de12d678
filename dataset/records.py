"""The dataset job's records and their fate: what a photo becomes (ShardedRecord), what a read file leaves
behind (SourceSeen, summed into SourcesPartial), and the deterministic split and shard of a photo.

Every decision is a function of the photo's content hash and the configured seed, never of processing order.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable, NamedTuple

import numpy as np

from contracts import dead_letters
from contracts import tfrecord_files

COUNTER_NAMESPACE = 'dataset_build'  # Beam counters of the job: files_read, examples_<split>, dead_letters_<reason>
DEAD_LETTER_TAG = dead_letters.DEAD_LETTER_TAG
SOURCES_TAG = 'sources'

EmbedFn = Callable[[np.ndarray], np.ndarray]  # quantized L plane (uint8 [H, W], as stored) -> float32 embedding


class Embedding(NamedTuple):
  """A frozen embedder whose output the records store (`data.precompute_embeddings`), handed in by the caller: the
  dataset job does not know the models (the pipeline wires `trainer.networks.embedders` in).

  Attributes:
    name: Recorded in the manifest (`embedding.name`).
    size: Length of the embedding vector, recorded in the manifest.
    make_fn: Called once per worker, returns the EmbedFn; must pickle (a module-level function or a
      `functools.partial` of one), since Beam ships it to the workers.
  """
  name: str
  size: int
  make_fn: Callable[[], EmbedFn]


class SourceFile(NamedTuple):
  uri: str
  data: bytes


class SourceSeen(NamedTuple):
  """A file that was read: feeds the source fingerprint, the `files_read` count and the count of records encoded
  from it (checked against what reached the shard writers)."""
  uri: str
  content_hash: str
  records: int = 0


class SourcesPartial(NamedTuple):
  """SourceSeen facts of some files, summed where they were read (a pool task's batch); `summarize_sources`
  adds the partials up. The fingerprint is order-independent: the sum of sha256(uri, content hash) mod 2^256."""
  files: int = 0
  records: int = 0
  fingerprint_sum: int = 0

  @classmethod
  def of(cls, seen: Iterable[SourceSeen]) -> 'SourcesPartial':
    files = records = total = 0
    for s in seen:
      value = int.from_bytes(hashlib.sha256(f'{s.uri}\0{s.content_hash}'.encode('utf-8')).digest(), 'big')
      files, records, total = files + 1, records + s.records, (total + value) % (1 << 256)
    return cls(files, records, total)

  def __add__(self, other: 'SourcesPartial') -> 'SourcesPartial':  # type: ignore[override]
    return SourcesPartial(self.files + other.files, self.records + other.records,
                          (self.fingerprint_sum + other.fingerprint_sum) % (1 << 256))


class ShardedRecord(NamedTuple):
  """One serialized example on its way to shard `shard` of `split`.

  Identical files have the same content hash, hence the same split, shard and seeds: their records meet in one
  shard group, where the writer keeps the first URI's (dedup without a second shuffle of the data).
  """
  split: str
  shard: int
  content_hash: str
  copy_index: int
  source_uri: str
  # The serialized tf.train.Example, framed and gzip-compressed (tfrecord_files.compress_record); once the encoder
  # has spilled it, only where it lies in the spill file.
  record: bytes | tfrecord_files.MemberRef


def hash_fraction(*parts: Any) -> float:
  digest = hashlib.md5(':'.join(str(p) for p in parts).encode('utf-8')).digest()
  return int.from_bytes(digest[:8], 'little') / 2.0 ** 64


def assign_split(content_hash: str, ratios: dict[str, float], seed: int) -> str:
  """Deterministic split of a photo from its content hash (so all its copies land in the same split).

  Splits are laid out on [0, 1) in name order, so the result never depends on how the config's mapping happens
  to be ordered (YAML file, JSON round trip, command-line override).
  """
  u = hash_fraction(seed, 'split', content_hash)
  cumulative = 0.0
  ordered = sorted(ratios.items())
  for split, ratio in ordered:
    cumulative += ratio
    if u < cumulative:
      return split
  return ordered[-1][0]


def shard_of(split: str, content_hash: str, copy_index: int, num_shards: int, seed: int) -> int:
  return int(hash_fraction(seed, 'shard', split, content_hash, copy_index) * num_shards)


def summarize_sources(partials: Iterable[SourcesPartial]) -> dict[str, Any]:
  """The manifest's source facts: {'files_read', 'records_encoded', 'fingerprint'}."""
  files, records, total = sum((SourcesPartial(*p) for p in partials), SourcesPartial())
  return {'files_read': files, 'records_encoded': records, 'fingerprint': f'{total:064x}'}
