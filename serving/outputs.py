"""Writing the end-user tools' output files so that a kill never leaves a half-written one, and recognising
finished outputs when a job is run again.

Local files are written to a temporary name in the same folder (`.<name>.<random>.partial`) and renamed into place
(`os.replace`: atomic on POSIX), so a file under its final name is always complete; a kill can at worst leave a
`.partial` file, which the next run removes (`remove_partial_files`). On object stores (gs://) a single object
write is already atomic (the object appears only when the upload completes), so the bytes go straight to the name.
"""

from __future__ import annotations

import os
import uuid

from apache_beam.io.filesystems import FileSystems

PARTIAL_SUFFIX = '.partial'
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_END = b'\x00\x00\x00\x00IEND\xaeB`\x82'  # the IEND chunk: length 0, type, CRC; the last 12 bytes of any PNG


def _is_local(path: str) -> bool:
  return '://' not in path or path.startswith('file://')


def write_atomically(path: str, data: bytes, mime_type: str = 'application/octet-stream') -> None:
  """Writes `data` to `path` so that `path` either does not exist or holds all of it."""
  if not _is_local(path):
    with FileSystems.create(path, mime_type=mime_type, compression_type='uncompressed') as f:
      f.write(data)
    return
  path = path[len('file://'):] if path.startswith('file://') else path
  folder, name = os.path.split(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  temporary = os.path.join(folder, f'.{name}.{uuid.uuid4().hex[:12]}{PARTIAL_SUFFIX}')
  try:
    with open(temporary, 'wb') as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(temporary, path)
  except BaseException:
    try:
      os.remove(temporary)
    except OSError:
      pass
    raise


def is_complete_png(path: str) -> bool:
  """Whether `path` exists and is a whole PNG (signature at the start, IEND chunk at the end): a finished output
  of an earlier run, including one written before writes were atomic."""
  try:
    if not FileSystems.exists(path):
      return False
    with FileSystems.open(path, compression_type='uncompressed') as f:
      head = f.read(8)
      size = FileSystems.match([path])[0].metadata_list[0].size_in_bytes
      if size < 8 + len(_PNG_END):
        return False
      f.seek(size - len(_PNG_END))
      return head == _PNG_SIGNATURE and f.read(len(_PNG_END)) == _PNG_END
  except Exception:  # pylint: disable=broad-except  # unreadable: not a finished output, do it again
    return False


def remove_partial_files(folder: str) -> list[str]:
  """Deletes the `.partial` temporary files a killed run left under a local `folder`; returns their paths."""
  if not _is_local(folder) or not os.path.isdir(folder):
    return []
  removed = []
  for directory, _, names in os.walk(folder):
    for name in names:
      if name.startswith('.') and name.endswith(PARTIAL_SUFFIX):
        path = os.path.join(directory, name)
        try:
          os.remove(path)
          removed.append(path)
        except OSError:
          pass
  return removed
