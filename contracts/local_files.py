"""Local files the stages share: the on-disk cache directory, and local copies of remote (gs://) files for the
libraries that only open local paths."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Iterator

CACHE_DIR_ENV = 'COLORIZE_CACHE_DIR'


def cache_dir() -> str:
  """Where derived files are cached (the Lab table, converted weights): $COLORIZE_CACHE_DIR, else
  ~/.cache/colorize."""
  return os.environ.get(CACHE_DIR_ENV) or os.path.join(os.path.expanduser('~'), '.cache', 'colorize')


@contextlib.contextmanager
def local_copy(path: str, what: str = 'file') -> Iterator[str]:
  """Yields a local path holding `path`: the path itself when it is local, else a temporary copy of the remote
  (gs://, any `tf.io.gfile` scheme) file, removed on exit. FileNotFoundError (naming `what`) when it is missing."""
  path = os.fspath(path)
  if '://' not in path:
    if not os.path.exists(path):
      raise FileNotFoundError(f'{what} not found: {path}')
    yield path
    return
  # Lazy: only remote URIs need tf.io.gfile; local paths stay NumPy/stdlib.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(f'{what} not found: {path}')
  directory = tempfile.mkdtemp(prefix='colorize_copy_')
  try:
    local = os.path.join(directory, os.path.basename(path))
    tf.io.gfile.copy(path, local)
    yield local
  finally:
    shutil.rmtree(directory, ignore_errors=True)
