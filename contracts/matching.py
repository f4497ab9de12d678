"""Beam file matching shared by the dataset build and the batch colorize job: patterns -> file URIs, with a dead
letter (`contracts.dead_letters`) for every pattern that matches nothing."""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from contracts import dead_letters
from contracts import decode

DEFAULT_COUNTER_NAMESPACE = 'dataset_build'


_COUNT_TAG = 'matched_counts'


class _MatchOrDeadLetterFn(beam.DoFn):
  """Expands one pattern; a pattern that matches nothing (e.g. a manifest line naming a missing file) is a dead
  letter rather than a crash of the whole job."""

  def __init__(self, counter_namespace: str, count_tag: str | None = None):
    self._namespace = counter_namespace
    self._count_tag = count_tag

  def process(self, pattern: str) -> Iterator[Any]:
    try:
      match = FileSystems.match([pattern])[0]
    except Exception as e:  # pylint: disable=broad-except
      yield dead_letters.tagged(pattern, 'match', decode.UNREADABLE, f'{type(e).__name__}: {e}', self._namespace)
      return
    files = [m for m in match.metadata_list if not m.path.endswith('/')]
    if not files:
      yield dead_letters.tagged(pattern, 'match', decode.UNREADABLE, 'no file matches', self._namespace)
    if self._count_tag:
      yield beam.pvalue.TaggedOutput(self._count_tag, len(files))
    for metadata in files:
      yield metadata


class MatchFiles(beam.PTransform):
  """Patterns -> file URIs spread over workers, in lists of `batch_size` (None: one URI per element), with dead
  letters for patterns that match nothing (counted under `counter_namespace`).

  The dataset build takes URIs in batches of one pool task (files are read later, inside its pool, so their bytes
  never cross a Beam stage boundary): the shuffle and the worker thread then handle a few hundred elements instead
  of one per file. The batch colorize job takes one URI per element.
  """

  def __init__(self, patterns: Iterable[str], spread: bool = True, batch_size: int | None = None,
               counter_namespace: str = DEFAULT_COUNTER_NAMESPACE, with_counts: bool = False):
    """`spread=False` skips the Reshuffle where there is nothing to spread over (workers in one process).
    `with_counts=True` adds a third output: the number of files each pattern matched (one int per pattern, emitted
    before any batching), so a job can check that every listed file reached its later stages."""
    super().__init__()
    self._with_counts = with_counts
    self._patterns = list(patterns)
    self._spread = spread
    self._batch_size = batch_size
    self._namespace = counter_namespace

  def expand(self, pbegin):
    matched = (pbegin
               | 'Patterns' >> beam.Create(self._patterns, reshuffle=False)  # SpreadFiles follows
               | 'Match' >> beam.ParDo(_MatchOrDeadLetterFn(
                   self._namespace, _COUNT_TAG if self._with_counts else None)).with_outputs(
                       dead_letters.DEAD_LETTER_TAG, _COUNT_TAG, main='files'))
    uris = matched.files | 'Paths' >> beam.Map(lambda metadata: metadata.path)
    if self._batch_size:
      uris = uris | 'Batch' >> beam.BatchElements(min_batch_size=self._batch_size, max_batch_size=self._batch_size)
    if self._spread:
      uris = uris | 'SpreadFiles' >> beam.Reshuffle()  # a file list does not split by itself
    if self._with_counts:
      return uris, matched[dead_letters.DEAD_LETTER_TAG], matched[_COUNT_TAG]
    return uris, matched[dead_letters.DEAD_LETTER_TAG]
