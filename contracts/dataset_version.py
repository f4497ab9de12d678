"""Versioned dataset folders: each build writes `<output_dir>/<version>/`, complete only once its manifest exists.

The manifest (`dataset.json`) is written last, after every shard and the dead letters, so a build that fails
half-way leaves a folder without a manifest that no reader will take for a dataset. `LATEST` names the newest
complete version; it is rewritten only after a build succeeded.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from apache_beam.io.filesystems import FileSystems

from contracts import schema

LATEST_FILE = 'LATEST'


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
  stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime('%Y%m%dT%H%M%SZ')
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
