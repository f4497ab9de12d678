"""Finding and loading a colorization SavedModel: an explicit SavedModel folder, or the newest version under a
pushed-model folder (TF Serving layout `<base>/<version number>/saved_model.pb`, as TFX's Pusher writes it)."""

from __future__ import annotations

import posixpath

from apache_beam.io.filesystems import FileSystems

SAVED_MODEL_FILE = 'saved_model.pb'


class ModelNotFound(FileNotFoundError):
  """No SavedModel at the given path nor any numbered version under it."""


def _has_saved_model(path: str) -> bool:
  return FileSystems.exists(FileSystems.join(path, SAVED_MODEL_FILE))


def resolve(path: str) -> str:
  """`path` itself if it is a SavedModel, else its highest-numbered version folder that holds one."""
  path = path.rstrip('/')
  if _has_saved_model(path):
    return path
  versions = []
  try:
    matches = FileSystems.match([FileSystems.join(path, '*', SAVED_MODEL_FILE)])[0].metadata_list
  except Exception:  # pylint: disable=broad-except
    matches = []
  for metadata in matches:
    version = posixpath.basename(posixpath.dirname(metadata.path.replace('\\', '/')))
    if version.isdigit():
      versions.append((int(version), posixpath.dirname(metadata.path)))
  if not versions:
    raise ModelNotFound(f'{path}: no {SAVED_MODEL_FILE} there and no numbered version folder under it '
                        '(expected a SavedModel or a pushed-model folder <base>/<version>/)')
  return max(versions)[1]


def load(path: str):
  """The loaded SavedModel (TensorFlow object) for `path` (see `resolve`) and the folder it came from."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (optional: TFLite/ONNX runtimes serve without it)
  resolved = resolve(path)
  return tf.saved_model.load(resolved), resolved
