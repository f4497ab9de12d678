"""The per-photo work of the dataset job, free of Beam: read, hash, decode, filter, fit, convert to Lab, split,
augment, encode and compress one photo; and a batch of photos as one pool task (`process_photo_batch`).

Pure functions of their inputs (thread-safe, no Beam state), so the pool runs them in threads or processes.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

from apache_beam.io.filesystems import FileSystems
import numpy as np

from configs import definitions
from contracts import dead_letters
from contracts import decode
from contracts import geometry
from contracts import lab_table
from contracts import schema
from contracts import tfrecord_files
from dataset import records as records_lib
from dataset.records import EmbedFn
from dataset.records import ShardedRecord
from dataset.records import SourceFile
from dataset.records import SourceSeen


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

  split = records_lib.assign_split(content_hash, data.split_ratios, data.seed)
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
    shard = records_lib.shard_of(split, content_hash, copy_index, data.shards[split], data.seed)
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
  sources: records_lib.SourcesPartial


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
                          records_lib.SourcesPartial.of(o for o in outputs if isinstance(o, SourceSeen)))
