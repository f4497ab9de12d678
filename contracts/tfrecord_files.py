"""Deterministic gzip TFRecord files written through Beam's FileSystems (local, gs://, any Beam filesystem).

Each record is framed (TFRecord: length, masked CRC32C of the length, data, masked CRC32C of the data) and
compressed (ISA-L) into its own gzip member where it is produced, in parallel; a shard file is the concatenation of its
records' members in key order. Concatenated gzip members are one valid gzip file (RFC 1952), read as such by
`tf.data.TFRecordDataset(compression_type='GZIP')`, Beam's `ReadFromTFRecord` and Python's gzip. Compared with
`WriteToTFRecord` this (a) makes a record's shard and position functions of its key, so a rebuild is
byte-identical (WriteToTFRecord's round-robin sharding starts at a random shard), and (b) moves compression out of
the single-threaded writer and shrinks the data that crosses the shuffle to the compressed size.

Between the encoder and the shard writers the members wait in spill files (one per batch of photos, `SpillFile`),
and only their `MemberRef`s (path, offset, length) cross the shuffle: the pattern of Beam's own FileBasedSink
(temporary files per bundle, finalized after a barrier). Measured on caltech-3k at 256 px, sending ~220 MB of
members through the local runner's in-memory shuffle took about half of the job's time on its single Beam thread.
"""

from __future__ import annotations

import collections
import os
import shutil
import struct
from typing import Iterable, NamedTuple, Sequence
import uuid

import google_crc32c
from isal import isal_zlib
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

_MASK_DELTA = 0xA282EAD8


def _masked_crc(data: bytes) -> int:
  crc = google_crc32c.value(data)
  return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _frame_head(data: bytes) -> bytes:
  """TFRecord framing before a record: its length and the masked CRC32C of the length."""
  length = struct.pack('<Q', len(data))
  return length + struct.pack('<I', _masked_crc(length))


def compress_record(data: bytes, compression_level: int) -> bytes:
  """One record in TFRecord framing (length, masked CRC32C of the length, data, masked CRC32C of the data) as a
  self-contained gzip member (header mtime 0, so the bytes are reproducible). The framing is fed to the
  compressor in pieces, so the record is never copied into one framed buffer first.

  ISA-L's deflate (levels 0-3), standard gzip output: measured on Caltech records at 256 px, level 1 takes
  0.46 ms and 74 KiB per example where zlib level 1 takes 1.45 ms (62 KiB with Z_RLE). Every worker must use the
  same compressor for rebuilds to be byte-identical, hence the pinned `isal`.
  """
  compressor = isal_zlib.compressobj(compression_level, isal_zlib.DEFLATED, 16 + isal_zlib.MAX_WBITS)
  parts = [compressor.compress(_frame_head(data)), compressor.compress(data),
           compressor.compress(struct.pack('<I', _masked_crc(data))), compressor.flush()]
  return b''.join(parts)


def write_members(path: str, members: Iterable[bytes]) -> int:
  """Writes gzip members (from `compress_record`) in order to `path`; returns how many were written."""
  count = 0
  with FileSystems.create(path, mime_type='application/octet-stream',
                          compression_type=CompressionTypes.UNCOMPRESSED) as f:
    for member in members:
      f.write(member)
      count += 1
  return count


class MemberRef(NamedTuple):
  """A gzip member waiting in a spill file: `length` bytes at `offset` of `path`."""
  path: str
  offset: int
  length: int


class SpillFile:
  """Appends gzip members to one new, uniquely named file in `directory` (created on the first append).

  One per pool task (a batch of photos): a retried bundle writes new files, and the refs of a failed attempt are
  never committed downstream, so their leftover files are only garbage for the final cleanup of the directory.
  """

  def __init__(self, directory: str):
    self.path = FileSystems.join(directory, f'{uuid.uuid4().hex}.members')
    self._file = None
    self._offset = 0

  def append(self, member: bytes) -> MemberRef:
    if self._file is None:
      self._file = FileSystems.create(self.path, mime_type='application/octet-stream',
                                      compression_type=CompressionTypes.UNCOMPRESSED)
    self._file.write(member)
    ref = MemberRef(self.path, self._offset, len(member))
    self._offset += len(member)
    return ref

  def close(self) -> None:
    if self._file is not None:
      self._file.close()
      self._file = None


def read_members(refs: Sequence[MemberRef]) -> list[bytes]:
  """The members at `refs`, in the order given; each spill file is opened once and read in offset order."""
  members: list[bytes] = [b''] * len(refs)
  by_path = collections.defaultdict(list)
  for i, ref in enumerate(refs):
    by_path[ref.path].append(i)
  for path, indices in sorted(by_path.items()):
    indices.sort(key=lambda i: refs[i].offset)
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
      position = 0
      for i in indices:
        if refs[i].offset != position:
          f.seek(refs[i].offset)
        members[i] = f.read(refs[i].length)
        position = refs[i].offset + len(members[i])
        if len(members[i]) != refs[i].length:
          raise IOError(f'{path}: spill file ends at byte {position}, before the {refs[i].length}-byte member '
                        f'at offset {refs[i].offset}')
  return members


def is_local(path: str) -> bool:
  """A path on this machine's filesystem (no scheme), where plain file calls are faster than Beam's FileSystems."""
  return FileSystems.get_scheme(path) is None


def write_shard(path: str, members: Sequence[bytes | MemberRef]) -> int:
  """Writes the members (bytes, or refs into spill files) in order to `path`; returns how many were written.

  When the shard and every spill file are local, the referenced byte ranges are copied inside the kernel
  (`os.copy_file_range`), never through Python: measured on caltech-3k, assembling 220 MB of shards went from
  ~0.45 s to ~0.12 s. Elsewhere (gs://, ...) the members are read back through Beam's FileSystems.
  """
  spilled = [i for i, m in enumerate(members) if isinstance(m, MemberRef)]
  if spilled and len(spilled) == len(members) and hasattr(os, 'copy_file_range') and is_local(path) \
      and all(is_local(ref.path) for ref in members):
    return _copy_local_ranges(path, members)
  data = list(members)
  for i, member in zip(spilled, read_members([members[i] for i in spilled])):
    data[i] = member
  return write_members(path, data)


def _copy_local_ranges(path: str, refs: Sequence[MemberRef], max_open: int = 256) -> int:
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  sources: collections.OrderedDict[str, int] = collections.OrderedDict()  # path -> fd, least recently used first
  try:
    with open(path, 'wb') as out:
      out_fd = out.fileno()
      for ref in refs:
        source = sources.pop(ref.path, None)
        if source is None:
          source = os.open(ref.path, os.O_RDONLY)
          if len(sources) >= max_open:
            os.close(sources.popitem(last=False)[1])
        sources[ref.path] = source
        copied = 0
        while copied < ref.length:
          n = os.copy_file_range(source, out_fd, ref.length - copied, ref.offset + copied)
          if n == 0:
            raise IOError(f'{ref.path}: spill file ends before the {ref.length}-byte member at offset {ref.offset}')
          copied += n
  finally:
    for source in sources.values():
      os.close(source)
  return len(refs)


def delete_spill_dir(directory: str) -> None:
  """Removes a spill directory and everything in it (local or object store); a missing one is fine.

  A local one goes in one `rmtree`: Beam's LocalFileSystem.delete matches (stats) every path it is given first,
  which took ~0.1 s for caltech-3k's ~190 spill files, on the job's critical path.
  """
  if is_local(directory):
    if os.path.isdir(directory):
      shutil.rmtree(directory)
    return
  match = FileSystems.match([FileSystems.join(directory, '*')])[0]
  paths = [m.path for m in match.metadata_list]
  if paths:
    FileSystems.delete(paths)
  if FileSystems.exists(directory):
    FileSystems.delete([directory])
