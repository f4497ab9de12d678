"""ProcessPhotosFn: the dataset job's photo stage, handing batches of photos to a pool of processes (or threads)
and moving their finished records on."""

from __future__ import annotations

import collections
import concurrent.futures
import ctypes
import multiprocessing
from multiprocessing import forkserver
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from configs import definitions
from contracts import lab_table
from contracts import tfrecord_files
from dataset import beam_util
from dataset import photo
from dataset.records import COUNTER_NAMESPACE
from dataset.records import DEAD_LETTER_TAG
from dataset.records import EmbedFn
from dataset.records import SOURCES_TAG
from dataset.records import SourceFile

PHOTOS_PER_TASK = 32  # photos per task of ProcessPhotosFn's pool: few large tasks, little IPC (32 vs 16: ~+4%)


def _process_pool_context():
  """Pool processes start from a forkserver, never by forking the Beam worker itself.

  An SDK worker talks gRPC (Dataflow, Flink, Spark, the local multi_processing mode), and a process forked from one
  can die on gRPC's inherited state: seen here as BrokenProcessPool in multi_processing mode. The forkserver is a
  fresh interpreter that preloads `dataset.pool_preload` (the per-photo code and the colour table) once; pool
  processes are forked from it, cheaply, and share the table. Python 3.14 makes forkserver the Linux default for the same
  reason.
  """
  if 'forkserver' not in multiprocessing.get_all_start_methods():
    return multiprocessing.get_context('spawn')
  context = multiprocessing.get_context('forkserver')
  context.set_forkserver_preload(['dataset.pool_preload'])
  return context


def start_process_pool_server() -> None:
  """Starts the pool's forkserver now, so that it imports `dataset.pool_preload` (~1 s) while Beam is still
  constructing and translating the pipeline. Worth it only when the pipeline's workers run in this process."""
  if 'forkserver' in multiprocessing.get_all_start_methods():
    _process_pool_context()
    forkserver.ensure_running()


PARENT_POLL_S = 0.5  # how often a pool process (or the forkserver) checks that its parent is still there


def die_with_parent(pdeathsig: bool = True) -> None:
  """Makes this process end when its parent does, even when the parent is killed with SIGKILL (no cleanup runs).

  Without it a killed Beam process leaves its forkserver and every pool process behind as orphans, each holding
  the 64 MB colour table. Two mechanisms:
  - Linux: prctl(PR_SET_PDEATHSIG, SIGKILL) via ctypes: the kernel kills this process when the thread that forked
    it exits. Only used where that thread lives as long as the parent: the forkserver, single-threaded, forks
    the pool processes (`pdeathsig=True`, their initializer). The forkserver itself is started by whichever Beam thread
    first needs a pool, which may end long before the process does, so it does not use it.
  - Everywhere: a daemon thread polling os.getppid() every PARENT_POLL_S seconds; a changed parent (re-parented to
    init or a subreaper) means the parent is gone, and the process exits at once (os._exit: no atexit handlers,
    no joining of the pool's queues, which would wait on the dead parent).
  """
  parent = os.getppid()  # (may legitimately be 1: a container whose main process is the Beam process)
  if pdeathsig and _set_pdeathsig_kill() and os.getppid() != parent:
    os._exit(0)  # pylint: disable=protected-access  # the parent died before prctl took effect

  def watch() -> None:
    while True:
      time.sleep(PARENT_POLL_S)
      if os.getppid() != parent:
        os._exit(0)  # pylint: disable=protected-access

  threading.Thread(target=watch, name='die-with-parent', daemon=True).start()


def _set_pdeathsig_kill() -> bool:
  """prctl(PR_SET_PDEATHSIG, SIGKILL) on Linux; False where unavailable."""
  if not sys.platform.startswith('linux'):
    return False
  try:
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    return libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) == 0
  except (OSError, AttributeError):
    return False


def _start_pool_process(environ: dict[str, str], filesystem_options: Any) -> None:
  """Gives a pool process the Beam worker's environment and filesystem options as of the pool's creation (the
  forkserver it comes from started earlier, e.g. before a credentials or emulator variable was set), and makes it
  die with its parent (`die_with_parent`)."""
  die_with_parent()
  os.environ.clear()
  os.environ.update(environ)
  if filesystem_options is not None:
    FileSystems.set_options(filesystem_options)


class ProcessPhotosFn(beam.DoFn):
  """File URI or SourceFile (or a list of them) -> ((split, shard), [ShardedRecord]) per pool task and shard;
  DeadLetters under DEAD_LETTER_TAG; one SourcesPartial per pool task under SOURCES_TAG.

  Photos are handed, in batches, to a pool of processes (`data.photo_pool`) as they arrive, with a bounded number
  in flight, so one Beam worker thread keeps every core busy while it moves finished records on. Processes by
  default: the per-photo work holds the GIL in places, and a thread pool is slower (docs/benchmarks.md, the
  dataset build). A thread pool remains for the precomputed-embedding path (a TensorFlow model does not cross process boundaries;
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

  def _emit(self, result: photo.PhotoBatchResult) -> Iterator[Any]:
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
          self._pool.submit(photo.process_photo_batch, self._batch, self._data, self._embed, self._spill_dir))
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
        yield beam_util.in_global_window(output)
