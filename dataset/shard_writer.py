"""The dataset job's shard writers: ((split, shard), [ShardedRecord]) batches -> gzip TFRecord shards, sorted by
key (byte-identical rebuilds), duplicates dropped, plus the empty shards that received no record."""

from __future__ import annotations

import collections
import concurrent.futures
import os
from typing import Any, Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from contracts import dead_letters
from contracts import decode
from contracts import schema
from contracts import tfrecord_files
from dataset import beam_util
from dataset.records import COUNTER_NAMESPACE
from dataset.records import DEAD_LETTER_TAG
from dataset.records import ShardedRecord


class _WriteShardFn(beam.DoFn):
  """Drops duplicate files' records, then writes one shard sorted by (content hash, copy): its bytes do not depend
  on processing order.

  The sort and dedup run on the Beam thread; reading the records back from the spill files and writing the shard
  (pure I/O) run in a small thread pool, a few shards at a time, as the photo work does in ProcessPhotosFn.
  """

  def __init__(self, version_dir: str, shards: dict[str, int], drop_duplicates: bool):
    self._version_dir = version_dir
    self._shards = shards
    self._drop_duplicates = drop_duplicates

  def setup(self):
    self._workers = os.cpu_count() or 1
    self._pool = concurrent.futures.ThreadPoolExecutor(self._workers)

  def teardown(self):
    self._pool.shutdown(wait=True)

  def start_bundle(self):
    self._pending = collections.deque()  # (summary, future), at most `_workers` shards held in memory

  @staticmethod
  def _write(path: str, kept: list[ShardedRecord]) -> tuple[int, int]:
    count = tfrecord_files.write_shard(path, [r.record for r in kept])
    return count, FileSystems.match([path])[0].metadata_list[0].size_in_bytes

  def _finish(self, summary: dict[str, Any], future) -> dict[str, Any]:
    count, size = future.result()
    Metrics.counter(COUNTER_NAMESPACE, 'shards_written').inc()
    Metrics.counter(COUNTER_NAMESPACE, f'examples_{summary["split"]}').inc(count)
    Metrics.counter(COUNTER_NAMESPACE, f'photos_{summary["split"]}').inc(summary['photos'])
    Metrics.counter(COUNTER_NAMESPACE, 'bytes_written').inc(size)
    return {**summary, 'examples': count}

  def process(self, element: tuple[tuple[str, int], Iterable[list[ShardedRecord]]]) -> Iterator[Any]:
    (split, shard), batches = element
    ordered = sorted((r for batch in batches for r in batch),
                     key=lambda r: (r.content_hash, r.copy_index, r.source_uri))
    kept = []
    for record in ordered:
      if self._drop_duplicates and kept and kept[-1].content_hash == record.content_hash \
          and kept[-1].copy_index == record.copy_index:
        if record.copy_index == 0:  # one dead letter per duplicate file, not per copy
          yield dead_letters.tagged(record.source_uri, 'dedup', decode.DUPLICATE, f'same bytes as {kept[-1].source_uri}',
                                    COUNTER_NAMESPACE)
        continue
      kept.append(record)
    relative = schema.SHARD_PATTERN.format(split=split, index=shard, count=self._shards[split])
    summary = {'split': split, 'path': relative, 'photos': sum(1 for r in kept if r.copy_index == 0),
               'duplicate_records': len(ordered) - len(kept)}
    while len(self._pending) >= self._workers:
      yield self._finish(*self._pending.popleft())
    self._pending.append((summary, self._pool.submit(self._write, FileSystems.join(self._version_dir, relative),
                                                     kept)))

  def finish_bundle(self) -> Iterator[Any]:
    while self._pending:
      yield beam_util.in_global_window(self._finish(*self._pending.popleft()))


class WriteShards(beam.PTransform):
  """((split, shard), [ShardedRecord]) batches -> gzip TFRecord shards, one per shard that received records
  (`write_empty_shards` completes the set once every writer is done).

  Outputs one summary dict per shard, and `duplicate` dead letters under DEAD_LETTER_TAG.
  """

  def __init__(self, version_dir: str, shards: dict[str, int], drop_duplicates: bool):
    super().__init__()
    self._version_dir, self._shards, self._drop_duplicates = version_dir, shards, drop_duplicates

  def expand(self, shard_batches):
    return (shard_batches
            | 'GroupByShard' >> beam.GroupByKey()
            | 'WriteShard' >> beam.ParDo(
                _WriteShardFn(self._version_dir, self._shards, self._drop_duplicates)).with_outputs(
                    DEAD_LETTER_TAG, main='shards'))


def write_empty_shards(version_dir: str, shards: dict[str, int], written: Iterable[dict[str, Any]]
                       ) -> list[dict[str, Any]]:
  """Summaries of every configured shard: `written` (WriteShards' output) plus an empty file for each shard that
  received no record, so readers and the manifest always see `shards[split]` files per split. Done after the
  writers rather than by feeding them a placeholder per shard, which cost the local runner a stage."""
  summaries = list(written)
  done = {summary['path'] for summary in summaries}
  for split, count in shards.items():
    for index in range(count):
      relative = schema.SHARD_PATTERN.format(split=split, index=index, count=count)
      if relative not in done:
        tfrecord_files.write_members(FileSystems.join(version_dir, relative), [])
        summaries.append({'split': split, 'path': relative, 'photos': 0, 'duplicate_records': 0, 'examples': 0})
  return summaries
