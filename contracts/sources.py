"""Where the photos come from: a folder or glob (local or gs://), a manifest of URIs, or a prepared TFDS dataset."""

from __future__ import annotations

import dataclasses
import os

from apache_beam.io.filesystems import FileSystems

_GLOB_CHARS = set('*?[')


class SourceError(ValueError):
  """The input cannot be listed or read at all (as opposed to one bad file, which is a dead letter)."""


@dataclasses.dataclass(frozen=True)
class Source:
  """A parsed `data.input_uri`.

  Attributes:
    kind: `files` (glob patterns) or `tfds`.
    patterns: For `files`: Beam file patterns to match (a manifest becomes one exact pattern per line).
    tfds_name: For `tfds`: the dataset name (optionally `name:version`).
    tfds_split: For `tfds`: the split to read.
  """
  kind: str
  patterns: tuple[str, ...] = ()
  tfds_name: str = ''
  tfds_split: str = 'train'


def _folder_to_pattern(uri: str) -> str:
  if any(c in uri for c in _GLOB_CHARS):
    return uri
  if uri.startswith('gs://'):
    return uri.rstrip('/') + '/**'
  if os.path.isdir(uri):
    return os.path.join(os.path.abspath(uri), '**')
  return os.path.abspath(uri) if '://' not in uri else uri


def read_manifest(path: str) -> tuple[str, ...]:
  """One URI per line; blank lines and `#` comments skipped; relative paths resolved against the manifest."""
  try:
    with FileSystems.open(path) as f:
      text = f.read().decode('utf-8')
  except Exception as e:  # pylint: disable=broad-except
    raise SourceError(f'manifest {path}: cannot be read: {e}') from e
  base = os.path.dirname(path)
  uris = []
  for line in text.splitlines():
    line = line.strip()
    if not line or line.startswith('#'):
      continue
    if '://' not in line and not os.path.isabs(line):
      line = os.path.join(base, line)
    uris.append(line)
  if not uris:
    raise SourceError(f'manifest {path}: lists no URIs')
  return tuple(uris)


def parse_input_uri(uri: str) -> Source:
  """Parses `data.input_uri` (see `configs.DataConfig`)."""
  if not uri:
    raise SourceError('data.input_uri is empty')
  if uri.startswith('tfds:'):
    name, _, split = uri[len('tfds:'):].partition('/')
    if not name:
      raise SourceError(f'{uri}: expected tfds:<name>[/<split>]')
    return Source(kind='tfds', tfds_name=name, tfds_split=split or 'train')
  if uri.startswith('manifest:'):
    return Source(kind='files', patterns=read_manifest(uri[len('manifest:'):]))
  if '://' not in uri and not any(c in uri for c in _GLOB_CHARS) and not os.path.exists(uri):
    raise SourceError(f'{uri}: no such file or folder')
  return Source(kind='files', patterns=(_folder_to_pattern(uri),))
