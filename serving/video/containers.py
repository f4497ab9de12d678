"""What a video file's first and top-level bytes say, without decoding: which container it is, whether it ends
before its own declared sizes (a truncated copy), and whether an MP4 is complete (a finished output).

FFmpeg answers "Invalid data found" alike for a text file and for an MP4 cut in half; these checks tell people
which of the two they have (`not_a_video` or `truncated`), and let the batch job skip finished outputs cheaply.
"""

from __future__ import annotations

import os
import struct

# ISO base media (MP4, MOV, M4V, 3GP): a box (size, type) at offset 0; these are the types a file starts with.
_ISO_FIRST_BOXES = (b'ftyp', b'moov', b'mdat', b'free', b'wide', b'skip', b'pnot')
_EBML = b'\x1a\x45\xdf\xa3'          # Matroska, WebM
_MATROSKA_SEGMENT = b'\x18\x53\x80\x67'


def kind(head: bytes) -> str:
  """The container family the first bytes announce: `iso` (MP4/MOV), `matroska` (MKV/WebM), `avi`, `flv`, `ogg`,
  `mpeg-ts`, `mpeg-ps`, or '' (none of the video containers)."""
  if len(head) >= 8 and head[4:8] in _ISO_FIRST_BOXES:
    return 'iso'
  if head.startswith(_EBML):
    return 'matroska'
  if head[:4] == b'RIFF' and head[8:12] in (b'AVI ', b'AVIX'):
    return 'avi'
  if head.startswith(b'FLV'):
    return 'flv'
  if head.startswith(b'OggS'):
    return 'ogg'
  if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
    return 'mpeg-ts'
  if head.startswith(b'\x00\x00\x01\xba'):
    return 'mpeg-ps'
  return ''


NAMES = {'iso': 'MP4/MOV', 'matroska': 'MKV/WebM', 'avi': 'AVI', 'flv': 'FLV', 'ogg': 'Ogg', 'mpeg-ts': 'MPEG-TS',
         'mpeg-ps': 'MPEG-PS'}


def read_head(path: str, size: int = 4096) -> bytes:
  with open(path, 'rb') as f:
    return f.read(size)


def iso_boxes(path: str) -> tuple[list[bytes], bool]:
  """The top-level box types of an ISO media file and whether they fit the file exactly (False: a box claims
  bytes past the end, or the walk stops short of it)."""
  size = os.path.getsize(path)
  types, offset = [], 0
  with open(path, 'rb') as f:
    while offset + 8 <= size:
      f.seek(offset)
      length, box = struct.unpack('>I4s', f.read(8))
      if length == 1:
        if offset + 16 > size:
          return types, False
        (length,) = struct.unpack('>Q', f.read(8))
      elif length == 0:  # the last box runs to the end of the file
        length = size - offset
      if length < 8:
        return types, False
      types.append(box)
      offset += length
  return types, offset == size


def _ebml_size(data: bytes, at: int) -> tuple[int | None, int]:
  """An EBML variable-length size at `at`: (value, or None for "unknown", its length in bytes)."""
  first = data[at]
  length = 1
  while length <= 8 and not first & (0x80 >> (length - 1)):
    length += 1
  if length > 8 or at + length > len(data):
    raise ValueError('bad EBML size')
  value = first & (0xff >> length)
  for byte in data[at + 1:at + length]:
    value = (value << 8) | byte
  return (None if value == (1 << (7 * length)) - 1 else value), length


def _matroska_fits(path: str) -> bool:
  """Whether the Segment's declared size (written when the muxer finished) fits the file."""
  head = read_head(path, 1024)
  try:
    header_size, n = _ebml_size(head, 4)
    at = 4 + n + (header_size or 0)
    if head[at:at + 4] != _MATROSKA_SEGMENT:
      return True  # not what we can check
    segment_size, n = _ebml_size(head, at + 4)
  except (ValueError, IndexError):
    return True
  return segment_size is None or at + 4 + n + segment_size <= os.path.getsize(path)


def _riff_fits(path: str) -> bool:
  head = read_head(path, 12)
  (riff_size,) = struct.unpack('<I', head[4:8])
  return 8 + riff_size <= os.path.getsize(path)


def is_cut_short(path: str) -> bool:
  """Whether the file ends before the sizes its container declares (MP4/MOV, MKV/WebM, AVI): a truncated copy."""
  try:
    family = kind(read_head(path))
    if family == 'iso':
      return not iso_boxes(path)[1]
    if family == 'matroska':
      return not _matroska_fits(path)
    if family == 'avi':
      return not _riff_fits(path)
  except (OSError, struct.error):
    return False
  return False


def is_complete_mp4(path: str) -> bool:
  """Whether a local file is a whole MP4 (ftyp, moov and mdat boxes that fill the file): a finished output."""
  try:
    if not os.path.isfile(path) or kind(read_head(path, 16)) != 'iso':
      return False
    types, fits = iso_boxes(path)
  except (OSError, struct.error):
    return False
  return fits and {b'ftyp', b'moov', b'mdat'} <= set(types)
