"""Beam transforms of the dataset build: read -> dedup -> decode/convert/augment -> sharded Lab TFRecords.

Small typed PTransforms in the style of seqio's `beam_utils`: every decision is a function of the photo's content
hash and the configured seed (never of processing order), every outcome is counted, and every unusable file
leaves a dead-letter record `{"uri", "stage", "reason", "detail"}`.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
import numpy as np

from configs import definitions
from contracts import dead_letters
from contracts import decode
from contracts import geometry
from contracts import lab_table
from contracts import schema
from contracts import sources
from contracts import tfrecord_files

COUNTER_NAMESPACE = 'dataset_build'
PHOTOS_PER_TASK = 32  # photos per task of ProcessPhotosFn's pool: few large tasks, little IPC (32 vs 16: ~+4%)
DEAD_LETTER_TAG = dead_letters.DEAD_LETTER_TAG
SOURCES_TAG = 'sources'


EmbedFn = Callable[[np.ndarray], np.ndarray]  # quantized L plane (uint8 [H, W], as stored) -> float32 embedding


class Embedding(NamedTuple):
  """A frozen embedder whose output the records store (`data.precompute_embeddings`), handed in by the caller: the
  dataset job does not know the models (the pipeline wires `trainer.embedders` in).

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


def _hash_fraction(*parts: Any) -> float:
  digest = hashlib.md5(':'.join(str(p) for p in parts).encode('utf-8')).digest()
  return int.from_bytes(digest[:8], 'little') / 2.0 ** 64


def assign_split(content_hash: str, ratios: dict[str, float], seed: int) -> str:
  """Deterministic split of a photo from its content hash (so all its copies land in the same split).

  Splits are laid out on [0, 1) in name order, so the result never depends on how the config's mapping happens
  to be ordered (YAML file, JSON round trip, command-line override).
  """
  u = _hash_fraction(seed, 'split', content_hash)
  cumulative = 0.0
  ordered = sorted(ratios.items())
  for split, ratio in ordered:
    cumulative += ratio
    if u < cumulative:
      return split
  return ordered[-1][0]


# ---- Reading ----------------------------------------------------------------------------------------------------


def _tfds_example_to_file(example: dict[str, Any], name: str, split: str) -> SourceFile:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  image = np.asarray(example['image'])
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format='PNG', compress_level=1)
  data = buffer.getvalue()
  key = None
  for field in ('id', 'file_name', 'image/filename', 'filename'):
    if field in example:
      value = np.asarray(example[field]).item()
      key = value.decode('utf-8') if isinstance(value, bytes) else str(value)
      break
  key = key or hashlib.sha256(data).hexdigest()[:16]
  return SourceFile(f'tfds:{name}/{split}#{key}', data)


class ReadTfds(beam.PTransform):
  """A prepared TFDS dataset's images as lossless PNG SourceFiles (so they take the same path as files)."""

  def __init__(self, name: str, split: str, data_dir: str):
    super().__init__()
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    try:
      self._builder = tfds.builder(name, data_dir=data_dir or None)
    except Exception as e:  # pylint: disable=broad-except
      raise sources.SourceError(f'tfds:{name}: unknown TFDS dataset: {e}') from e
    if not self._builder.is_prepared():
      raise sources.SourceError(
          f'tfds:{name}: not downloaded/prepared in {self._builder.data_dir} and this job does not download '
          f'(offline machines, batch workers). Prepare it where there is internet (`tfds build {name} '
          f'--data_dir=DIR`), copy DIR here and set data.tfds_data_dir=DIR.')
    if 'image' not in self._builder.info.features:
      raise sources.SourceError(f'tfds:{name}: has no `image` feature')
    if split not in self._builder.info.splits:
      raise sources.SourceError(f'tfds:{name}: no split {split!r}; has {sorted(self._builder.info.splits)}')
    self._name, self._split = name, split

  def expand(self, pbegin):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    name, split = self._name, self._split
    return (pbegin
            | 'ReadTFDS' >> tfds.beam.ReadFromTFDS(self._builder, split=split)
            | 'ToNumpy' >> beam.Map(tfds.as_numpy)
            | 'EncodePng' >> beam.Map(_tfds_example_to_file, name, split))


# ---- Decode, convert, augment, encode ---------------------------------------------------------------------------


def _shard_of(split: str, content_hash: str, copy_index: int, num_shards: int, seed: int) -> int:
  return int(_hash_fraction(seed, 'shard', split, content_hash, copy_index) * num_shards)


def read_source(item: str | SourceFile) -> SourceFile:
  """A URI's bytes (through Beam's FileSystems: local, gs://, ...) or an already loaded SourceFile."""
  if isinstance(item, SourceFile):
    return item
  if tfrecord_files.is_local(item):  # Beam's local filesystem adds ~20 us per file to a plain read
    with open(item, 'rb') as f:
      return SourceFile(item, f.read())
  with FileSystems.open(item, compression_type='uncompressed') as f:
    return SourceFile(item, f.read())


def load_and_process_photo(item: str | SourceFile, data: definitions.DataConfig,
                           embed: EmbedFn | None = None) -> list[Any]:
  """Reads, hashes and processes one photo: [SourceSeen, ShardedRecord...] or [SourceSeen?, DeadLetter].

  A pure function of its inputs (no Beam state, thread-safe), so ProcessPhotosFn runs it in a thread pool.
  """
  try:
    source = read_source(item)
  except Exception as e:  # pylint: disable=broad-except
    return [dead_letters.DeadLetter(str(item), 'read', decode.UNREADABLE, f'{type(e).__name__}: {e}')]
  content_hash = hashlib.sha256(source.data).hexdigest()
  outputs = process_photo(content_hash, source, data, embed)
  records = sum(1 for output in outputs if isinstance(output, ShardedRecord))
  return [SourceSeen(source.uri, content_hash, records)] + outputs


def process_photo(content_hash: str, source: SourceFile, data: definitions.DataConfig,
                  embed: EmbedFn | None = None) -> list[Any]:
  """One photo -> its ShardedRecords (the photo and, in train, its augmented copies) or one DeadLetter.

  `embed`, when given, maps a record's quantized L plane to the frozen embedder's output, stored in the record.
  """
  zoom_low = data.augmentation.zoom_range[0] if data.augmentation.copies else 1.0
  try:
    rgb = decode.decode_pil(source.data, min_side=data.min_side, max_pixels=data.max_pixels,
                              draft_side=int(np.ceil(data.image_size / zoom_low)))
  except decode.UnusableImage as e:
    return [dead_letters.DeadLetter(source.uri, 'decode', e.reason, e.detail)]

  base_rgb, base_mask = geometry.fit_image(rgb, data.image_size, data.resize_mode)
  base_planes = lab_table.rgb8_to_quantized_lab_planes(base_rgb)
  # Judged on the stored values (a, b rounded to integers), i.e. on what the trainer will see.
  chroma = base_planes[1:] if base_mask is None else base_planes[1:, base_mask]
  offset = int(schema.AB_OFFSET)
  peak_chroma = float(max(int(chroma.max()) - offset, offset - int(chroma.min()))) if chroma.size else 0.0
  if peak_chroma <= data.grayscale_chroma_threshold:
    return [dead_letters.DeadLetter(source.uri, 'filter', decode.GRAYSCALE,
                       f'max |a|,|b| = {peak_chroma:.2f} <= grayscale_chroma_threshold '
                       f'{data.grayscale_chroma_threshold}')]

  split = assign_split(content_hash, data.split_ratios, data.seed)
  copies = data.augmentation.copies if split == 'train' else 0
  outputs = []
  for copy_index in range(copies + 1):
    seed = geometry.copy_seed(data.seed, content_hash, copy_index)
    if copy_index == 0:
      planes, mask = base_planes, base_mask
    else:
      params = geometry.draw_params(seed, data.augmentation)
      aug_rgb, mask = geometry.augment_image(rgb, data.image_size, data.resize_mode, params)
      planes = lab_table.rgb8_to_quantized_lab_planes(aug_rgb)
    record = schema.encode_example(planes, mask, source_uri=source.uri, content_hash=content_hash,
                                   augmentation_id=copy_index, augmentation_seed=seed,
                                   embedding=embed(planes[0]) if embed else None)
    shard = _shard_of(split, content_hash, copy_index, data.shards[split], data.seed)
    outputs.append(ShardedRecord(split, shard, content_hash, copy_index, source.uri,
                                 tfrecord_files.compress_record(record, data.compression_level)))
  return outputs


class PhotoBatchResult(NamedTuple):
  """What one pool task returns for its batch of photos, already grouped the way the next stages consume it:
  records per destination shard, dead letters, and the batch's source facts. A few Beam elements per batch
  instead of two or three per photo keep the Beam thread (which shares the cores with the pool) and the shuffle's
  coder out of the way: measured on caltech-3k, ~9,000 elements through the local runner cost ~0.2 s of its CPU."""
  shard_batches: list[tuple[tuple[str, int], list[ShardedRecord]]]
  dead_letters: list[dead_letters.DeadLetter]
  sources: SourcesPartial


def process_photo_batch(items: list[str | SourceFile], data: definitions.DataConfig,
                        embed: EmbedFn | None = None,
                        spill_dir: str | None = None) -> PhotoBatchResult:
  """`load_and_process_photo` over a batch: one task of ProcessPhotosFn's pool (few large tasks, little IPC).

  With `spill_dir`, the batch's compressed records go to one new spill file there, closed before returning, and
  the outputs carry their MemberRefs: the records never travel back to the Beam thread.
  """
  outputs = [output for item in items for output in load_and_process_photo(item, data, embed)]
  records = [output for output in outputs if isinstance(output, ShardedRecord)]
  if spill_dir and records:
    spill = tfrecord_files.SpillFile(spill_dir)
    try:
      records = [record._replace(record=spill.append(record.record)) for record in records]
    finally:
      spill.close()
  by_shard: dict[tuple[str, int], list[ShardedRecord]] = {}
  for record in records:
    by_shard.setdefault((record.split, record.shard), []).append(record)
  return PhotoBatchResult(sorted(by_shard.items()), [o for o in outputs if isinstance(o, dead_letters.DeadLetter)],
                          SourcesPartial.of(o for o in outputs if isinstance(o, SourceSeen)))


def _process_pool_context():
  """Pool processes start from a forkserver, never by forking the Beam worker itself.

  An SDK worker talks gRPC (Dataflow, Flink, Spark, the local multi_processing mode), and a process forked from one
  can die on gRPC's inherited state: seen here as BrokenProcessPool in multi_processing mode. The forkserver is a
  fresh interpreter that preloads `dataset.pool_preload` (this module and the colour table) once; pool processes
  are forked from it, cheaply, and share the table. Python 3.14 makes forkserver the Linux default for the same
  reason.
  """
  import multiprocessing  # pylint: disable=g-import-not-at-top
  if 'forkserver' not in multiprocessing.get_all_start_methods():
    return multiprocessing.get_context('spawn')
  context = multiprocessing.get_context('forkserver')
  context.set_forkserver_preload(['dataset.pool_preload'])
  return context


def start_process_pool_server() -> None:
  """Starts the pool's forkserver now, so that it imports `dataset.pool_preload` (~1 s) while Beam is still
  constructing and translating the pipeline. Worth it only when the pipeline's workers run in this process."""
  import multiprocessing  # pylint: disable=g-import-not-at-top
  from multiprocessing import forkserver  # pylint: disable=g-import-not-at-top
  if 'forkserver' in multiprocessing.get_all_start_methods():
    _process_pool_context()
    forkserver.ensure_running()


def _start_pool_process(environ: dict[str, str], filesystem_options: Any) -> None:
  """Gives a pool process the Beam worker's environment and filesystem options as of the pool's creation (the
  forkserver it comes from started earlier, e.g. before a credentials or emulator variable was set)."""
  import os  # pylint: disable=g-import-not-at-top
  os.environ.clear()
  os.environ.update(environ)
  if filesystem_options is not None:
    FileSystems.set_options(filesystem_options)


def _in_global_window(output: Any) -> Any:
  """An output emitted from finish_bundle, where Beam needs it wrapped in its window (this job is batch: global)."""
  from apache_beam.transforms import window  # pylint: disable=g-import-not-at-top
  from apache_beam.utils.windowed_value import WindowedValue  # pylint: disable=g-import-not-at-top
  if isinstance(output, beam.pvalue.TaggedOutput):
    return beam.pvalue.TaggedOutput(output.tag, WindowedValue(output.value, 0, [window.GlobalWindow()]))
  return WindowedValue(output, 0, [window.GlobalWindow()])


class ProcessPhotosFn(beam.DoFn):
  """File URI or SourceFile (or a list of them) -> ((split, shard), [ShardedRecord]) per pool task and shard;
  DeadLetters under DEAD_LETTER_TAG; one SourcesPartial per pool task under SOURCES_TAG.

  Photos are handed, in batches, to a pool of processes (`data.photo_pool`) as they arrive, with a bounded number
  in flight, so one Beam worker thread keeps every core busy while it moves finished records on. Processes by
  default: the per-photo work holds the GIL in places, and a thread pool measured slower (see the README's
  benchmark table). A thread pool remains for the precomputed-embedding path (a TensorFlow model does not cross process boundaries;
  it parallelizes itself) and for runners that already run one SDK process per core. Counters are updated on
  the Beam thread (Beam's metrics are thread-local).

  With `spill_dir`, each pool task appends its batch's compressed records to its own spill file there and only
  their `MemberRef`s come back, so neither the Beam thread nor the shuffle to the shard writers moves ~70 KB per
  record, only a few dozen bytes. Every file is closed before the task returns, hence before the bundle commits.
  """

  def __init__(self, data: definitions.DataConfig, make_embed_fn: Callable[[], EmbedFn] | None = None,
               spill_dir: str | None = None):
    """`make_embed_fn`, set when the frozen embedder's output is precomputed into the records, is called once per
    worker (in `setup`) and returns the embed function (see `Embedding`)."""
    self._data = data
    self._make_embed_fn = make_embed_fn
    self._spill_dir = spill_dir

  def setup(self):
    import concurrent.futures  # pylint: disable=g-import-not-at-top
    import os  # pylint: disable=g-import-not-at-top
    self._embed = None
    kind = self._data.photo_pool
    if self._make_embed_fn is not None:
      self._embed = self._make_embed_fn()  # the model, loaded once per worker
      kind = 'thread'
    workers = self._data.photo_workers or os.cpu_count() or 1
    if kind == 'process':  # the pool processes get the colour table from their forkserver (pool_preload)
      self._pool = concurrent.futures.ProcessPoolExecutor(
          workers, mp_context=_process_pool_context(), initializer=_start_pool_process,
          initargs=(dict(os.environ), getattr(FileSystems, '_pipeline_options', None)))
    else:
      lab_table.table()  # build or load the colour table once per worker, before the threads need it
      self._pool = concurrent.futures.ThreadPoolExecutor(workers)
    self._max_in_flight = 2 * workers

  def teardown(self):
    self._pool.shutdown(wait=True)

  def start_bundle(self):
    self._batch = []
    self._in_flight = collections.deque()

  def _emit(self, result: PhotoBatchResult) -> Iterator[Any]:
    Metrics.counter(COUNTER_NAMESPACE, 'files_read').inc(result.sources.files)
    yield beam.pvalue.TaggedOutput(SOURCES_TAG, result.sources)
    for letter in result.dead_letters:
      Metrics.counter(COUNTER_NAMESPACE, f'dead_letters_{letter.reason}').inc()
      yield beam.pvalue.TaggedOutput(DEAD_LETTER_TAG, letter)
    for key, records in result.shard_batches:
      Metrics.counter(COUNTER_NAMESPACE, 'examples_encoded').inc(len(records))
      Metrics.counter(COUNTER_NAMESPACE, 'compressed_bytes').inc(
          sum(r.record.length if isinstance(r.record, tfrecord_files.MemberRef) else len(r.record) for r in records))
      yield key, records

  def _submit_batch(self) -> None:
    if self._batch:
      self._in_flight.append(
          self._pool.submit(process_photo_batch, self._batch, self._data, self._embed, self._spill_dir))
      self._batch = []

  def process(self, element: str | SourceFile | list[str | SourceFile]) -> Iterator[Any]:
    if isinstance(element, list):
      self._batch.extend(element)
    else:
      self._batch.append(element)
    if len(self._batch) >= PHOTOS_PER_TASK:
      self._submit_batch()
    while len(self._in_flight) > self._max_in_flight or (self._in_flight and self._in_flight[0].done()):
      yield from self._emit(self._in_flight.popleft().result())

  def finish_bundle(self) -> Iterator[Any]:
    self._submit_batch()
    while self._in_flight:
      for output in self._emit(self._in_flight.popleft().result()):
        yield _in_global_window(output)


# ---- Writing ----------------------------------------------------------------------------------------------------


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
    import concurrent.futures  # pylint: disable=g-import-not-at-top
    import os  # pylint: disable=g-import-not-at-top
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
      yield _in_global_window(self._finish(*self._pending.popleft()))


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


def summarize_sources(partials: Iterable[SourcesPartial]) -> dict[str, Any]:
  """The manifest's source facts: {'files_read', 'records_encoded', 'fingerprint'}."""
  files, records, total = sum((SourcesPartial(*p) for p in partials), SourcesPartial())
  return {'files_read': files, 'records_encoded': records, 'fingerprint': f'{total:064x}'}
