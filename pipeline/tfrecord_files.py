"""Deterministic gzip TFRecord files written through Beam's FileSystems (local, gs://, any Beam filesystem).

Each record is framed (TFRecord: length, masked CRC32C of the length, data, masked CRC32C of the data) and
compressed (ISA-L) into its own gzip member where it is produced, in parallel; a shard file is the concatenation of its
records' members in key order. Concatenated gzip members are one valid gzip file (RFC 1952), read as such by
`tf.data.TFRecordDataset(compression_type='GZIP')`, Beam's `ReadFromTFRecord` and Python's gzip. Compared with
`WriteToTFRecord` this (a) makes a record's shard and position functions of its key, so a rebuild is
byte-identical (WriteToTFRecord's round-robin sharding starts at a random shard), and (b) moves compression out of
the single-threaded writer and shrinks the data that crosses the shuffle to the compressed size.
"""

from __future__ import annotations

import struct
from typing import Iterable

import google_crc32c
from isal import isal_zlib
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


def compress_record(data: bytes, compression_level: int) -> bytes:
  """One framed record as a self-contained gzip member (header mtime 0, so the bytes are reproducible).

  ISA-L's deflate (levels 0-3), standard gzip output: measured on Caltech records at 256 px, level 1 takes
  0.46 ms and 74 KiB per example where zlib level 1 takes 1.45 ms (62 KiB with Z_RLE). Every worker must use the
  same compressor for rebuilds to be byte-identical, hence the pinned `isal`.
  """
  compressor = isal_zlib.compressobj(compression_level, isal_zlib.DEFLATED, 16 + isal_zlib.MAX_WBITS)
  return compressor.compress(frame_record(data)) + compressor.flush()


def write_members(path: str, members: Iterable[bytes]) -> int:
  """Writes gzip members (from `compress_record`) in order to `path`; returns how many were written."""
  count = 0
  with FileSystems.create(path, mime_type='application/octet-stream',
                          compression_type=CompressionTypes.UNCOMPRESSED) as f:
    for member in members:
      f.write(member)
      count += 1
  return count
