"""Versioned dataset folders: each build writes `<output_dir>/<version>/`, complete only once its manifest exists.

The manifest (`dataset.json`) is written last, after every shard and the dead letters, so a build that fails
half-way leaves a folder without a manifest that no reader will take for a dataset. `LATEST` names the newest
complete version; it is rewritten only after a build succeeded.

Abandoned partial versions (a build killed half-way) are removed by the next build (`remove_abandoned`). A build
writing a version keeps a writer file in it (`_writer.json`: pid, hostname, start, heartbeat refreshed every
`HEARTBEAT_S` seconds; `WriterLock`), removed once the manifest is written. A folder is abandoned when it is named
like a version, is older than the running build's, has no manifest, and either its writer file names a process of
this host that no longer exists, or its heartbeat (or, without a writer file, its name's timestamp) is older than
`STALE_AFTER_S`. A complete version is never touched. Everything goes through Beam's FileSystems (local, gs://).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import socket
import threading
from typing import Any

from apache_beam.io.filesystems import FileSystems

from contracts import schema

LATEST_FILE = 'LATEST'
WRITER_FILE = '_writer.json'  # in a version folder while a build writes it
HEARTBEAT_S = 30.0
STALE_AFTER_S = 600.0  # a writer file not refreshed for this long belongs to a dead build, whatever its host
_VERSION_NAME = re.compile(r'^(\d{8}T\d{6}Z)(-\d+)?$')
_STAMP_FORMAT = '%Y%m%dT%H%M%SZ'


class DatasetNotFound(FileNotFoundError):
  """No complete dataset version where one was expected."""


def _beam_filesystem(path: str) -> bool:
  """Whether Beam has a filesystem for `path`'s scheme. Otherwise (e.g. TensorFlow's `ram://`, which the trainer
  and TFX's `fileio` use) the manifest goes through `tf.io.gfile`, so readers on any TensorFlow filesystem work."""
  try:
    FileSystems.get_filesystem(path)
    return True
  except ValueError:
    return False


def _gfile():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (only for schemes Beam does not know)
  return tf.io.gfile


def _join(path: str, *parts: str) -> str:
  if _beam_filesystem(path):
    return FileSystems.join(path, *parts)
  return '/'.join([path.rstrip('/'), *parts])


def _exists(path: str) -> bool:
  return FileSystems.exists(path) if _beam_filesystem(path) else _gfile().exists(path)


def _read_text(path: str) -> str:
  if not _beam_filesystem(path):
    with _gfile().GFile(path, 'r') as f:
      return f.read()
  with FileSystems.open(path, compression_type='uncompressed') as f:
    return f.read().decode('utf-8')


def write_text(path: str, text: str) -> None:
  if not _beam_filesystem(path):
    with _gfile().GFile(path, 'w') as f:
      f.write(text)
    return
  with FileSystems.create(path, mime_type='text/plain', compression_type='uncompressed') as f:
    f.write(text.encode('utf-8'))


def new_version_dir(output_dir: str, now: datetime.datetime | None = None) -> str:
  """A fresh, not yet existing `<output_dir>/<UTC timestamp>[-n]` path."""
  stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime(_STAMP_FORMAT)
  candidate, n = _join(output_dir, stamp), 0
  while _exists(candidate) or _exists(candidate + '/'):
    n += 1
    candidate = _join(output_dir, f'{stamp}-{n}')
  return candidate


def is_complete(version_dir: str) -> bool:
  return _exists(_join(version_dir, schema.MANIFEST_FILE))


def mark_latest(output_dir: str, version_dir: str) -> None:
  if not is_complete(version_dir):
    raise DatasetNotFound(f'{version_dir}: has no {schema.MANIFEST_FILE}; refusing to mark it LATEST')
  write_text(_join(output_dir, LATEST_FILE), version_dir.rstrip('/').rsplit('/', 1)[-1] + '\n')


def resolve(path: str) -> str:
  """A complete dataset version: `path` itself if it has a manifest, else `path/LATEST`'s target."""
  if is_complete(path):
    return path
  latest = _join(path, LATEST_FILE)
  if _exists(latest):
    candidate = _join(path, _read_text(latest).strip())
    if is_complete(candidate):
      return candidate
  raise DatasetNotFound(f'{path}: neither a complete dataset version ({schema.MANIFEST_FILE}) nor a dataset '
                        f'folder whose {LATEST_FILE} names one')


def read_manifest(path: str) -> dict[str, Any]:
  """The manifest of the dataset version at (or LATEST under) `path`, with `version_dir` added."""
  version_dir = resolve(path)
  manifest = json.loads(_read_text(_join(version_dir, schema.MANIFEST_FILE)))
  if manifest.get('schema_version') != schema.SCHEMA_VERSION:
    raise ValueError(f'{version_dir}: schema_version {manifest.get("schema_version")} is not the supported '
                     f'{schema.SCHEMA_VERSION}')
  manifest['version_dir'] = version_dir
  return manifest


def _now() -> datetime.datetime:
  return datetime.datetime.now(datetime.timezone.utc)


class WriterLock:
  """Marks `version_dir` as being written by this process (`WRITER_FILE`, heartbeat every `HEARTBEAT_S` s) for the
  duration of a `with` block; the file is removed at the end (call after the manifest is written)."""

  def __init__(self, version_dir: str, heartbeat_s: float = HEARTBEAT_S):
    self.path = FileSystems.join(version_dir, WRITER_FILE)
    self._heartbeat_s = heartbeat_s
    self._stop = threading.Event()
    self._started = _now().isoformat(timespec='seconds')
    self._thread = None

  def _write(self) -> None:
    write_text(self.path, json.dumps({'pid': os.getpid(), 'host': socket.gethostname(), 'started': self._started,
                                      'heartbeat': _now().isoformat(timespec='seconds')}) + '\n')

  def _beat(self) -> None:
    while not self._stop.wait(self._heartbeat_s):
      try:
        self._write()
      except Exception:  # pylint: disable=broad-except
        logging.getLogger(__name__).warning('could not refresh %s', self.path, exc_info=True)

  def __enter__(self) -> 'WriterLock':
    if '://' not in self.path:
      os.makedirs(os.path.dirname(self.path), exist_ok=True)
    self._write()
    self._thread = threading.Thread(target=self._beat, name='dataset-writer-heartbeat', daemon=True)
    self._thread.start()
    return self

  def __exit__(self, exc_type, *_) -> None:
    self._stop.set()
    self._thread.join()
    if exc_type is not None:
      return  # a failed build keeps its (no longer refreshed) writer file: abandoned once stale or its process ends
    try:
      FileSystems.delete([self.path])
    except Exception:  # pylint: disable=broad-except
      pass


def _pid_is_gone(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return True
  except (PermissionError, OverflowError):
    return False
  return False


def _age_s(iso_or_stamp: str, now: datetime.datetime) -> float:
  try:
    when = datetime.datetime.fromisoformat(iso_or_stamp)
  except ValueError:
    when = datetime.datetime.strptime(iso_or_stamp, _STAMP_FORMAT).replace(tzinfo=datetime.timezone.utc)
  return (now - when).total_seconds()


def _version_names(output_dir: str) -> list[str]:
  """Names of the version-like folders directly under `output_dir` (local folders are matched themselves; object
  stores have no folders, so their files one level down are matched too)."""
  prefix = output_dir.rstrip('/') + '/'
  names = set()
  if '://' not in output_dir and os.path.isdir(output_dir):  # local: the folders themselves, empty ones included
    names.update(n for n in os.listdir(output_dir) if os.path.isdir(os.path.join(output_dir, n)))
  for pattern in (prefix + '*', prefix + '*/*'):
    try:
      matched = FileSystems.match([pattern])[0].metadata_list
    except Exception:  # pylint: disable=broad-except  # nothing there yet
      continue
    for metadata in matched:
      path = metadata.path
      if path.startswith(prefix):
        names.add(path[len(prefix):].split('/', 1)[0])
  return sorted(name for name in names if _VERSION_NAME.match(name))


def abandoned_versions(output_dir: str, current_version_dir: str,
                       now: datetime.datetime | None = None) -> list[tuple[str, str]]:
  """(version folder, why) for each abandoned partial version under `output_dir` older than the current one (see
  the module docstring for the rule)."""
  now = now or _now()
  current = current_version_dir.rstrip('/').rsplit('/', 1)[-1]
  host = socket.gethostname()
  abandoned = []
  for name in _version_names(output_dir):
    if name >= current:
      continue
    version_dir = FileSystems.join(output_dir, name)
    if is_complete(version_dir):
      continue
    writer_path = FileSystems.join(version_dir, WRITER_FILE)
    writer = None
    if _exists(writer_path):
      try:
        writer = json.loads(_read_text(writer_path))
      except (ValueError, OSError):
        writer = None
    if writer is not None:
      if writer.get('host') == host and _pid_is_gone(int(writer.get('pid', 0)) or -1):
        abandoned.append((version_dir, f'no manifest; its writer (pid {writer["pid"]} on {host}) is gone'))
      elif _age_s(writer.get('heartbeat', writer.get('started', '')), now) > STALE_AFTER_S:
        abandoned.append((version_dir, f'no manifest; its writer (pid {writer.get("pid")} on {writer.get("host")}) '
                                       f'sent no heartbeat for more than {STALE_AFTER_S:.0f} s'))
    elif _age_s(_VERSION_NAME.match(name).group(1), now) > STALE_AFTER_S:
      abandoned.append((version_dir, f'no manifest, no writer file, started more than {STALE_AFTER_S:.0f} s ago'))
  return abandoned


def _delete_tree(folder: str) -> None:
  """Deletes a folder and everything under it (Beam's local delete leaves empty sub-folders behind)."""
  if '://' not in folder:
    # Lazy: local folders only (URIs go through FileSystems).
    import shutil  # pylint: disable=g-import-not-at-top
    shutil.rmtree(folder, ignore_errors=True)
  else:
    FileSystems.delete([folder.rstrip('/') + '/'])  # object stores: every object under the prefix


def remove_abandoned(output_dir: str, current_version_dir: str) -> list[tuple[str, str]]:
  """Deletes the abandoned partial versions under `output_dir` (never a complete one); returns (folder, why)."""
  removed = []
  for version_dir, why in abandoned_versions(output_dir, current_version_dir):
    if is_complete(version_dir):  # checked again just before deleting
      continue
    _delete_tree(version_dir)
    logging.getLogger(__name__).warning('Removed abandoned partial dataset version %s (%s)', version_dir, why)
    removed.append((version_dir, why))
  return removed
