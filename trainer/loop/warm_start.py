"""Warm start: a run's colorizer starts from the weights of an earlier run instead of from ImageNet alone.

TFX's idiom for a scheduled pipeline is to warm-start the Trainer from the last blessed model (its `base_model`);
for a first run, or the 2-core demo, a colorizer that already learnt colour on a larger photo set turns a few
minutes of training from "learn colour" into "fine-tune colour", the way DeOldify and DDColor users start from
published weights.

Every exported model carries its colorizer's weights in a `warm_start/` folder of the SavedModel (ignored by TF's
loaders and TF Serving; not TF Serving's `assets.extra/`, a name TF's ram:// filesystem confuses with `assets/`
when TFX's Pusher copies the folder), so a pushed model is a warm-start source as it is. The file is a NumPy
archive of every colorizer weight, in the model's weight order, stored as float16 (half the bytes; fine-tuning
does not need the last bits), with a JSON header naming the model configuration it came from. It is read and
written through tf.io.gfile: gs:// works as a local path does.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import numpy as np
import tensorflow as tf

WEIGHTS_DIR = 'warm_start'  # the folder of a SavedModel that holds WEIGHTS_FILE
WEIGHTS_FILE = 'colorizer_weights.npz'
_META_KEY = '__meta__'
# The model settings that decide the weights' shapes: a mismatch is named in the error.
_PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # trainer/loop/..


class WarmStartError(ValueError):
  """The warm-start source cannot be used: its message names the file and the reason."""


def model_metadata(model_config) -> dict[str, Any]:
  """What a weights file records about the model it was saved from."""
  network = model_config.network
  return {'variant': network.variant, 'loss': model_config.loss.kind, 'encoder_filters': network.encoder_filters,
          'decoder_filters': network.decoder_filters, 'fusion_channels': network.fusion_channels,
          'embedder': network.embedder}


def weights_path(model_dir: str) -> str:
  """Where an exported model keeps its colorizer's weights."""
  return os.path.join(model_dir, WEIGHTS_DIR, WEIGHTS_FILE)


def resolve(uri: str) -> str:
  """The weights file for `uri`: a weights file, or a SavedModel folder (its `warm_start/` copy).

  A relative path that does not exist from the working directory is taken relative to the project (so the shipped
  `trainer/pretrained/` files work from any working directory and in an installed package)."""
  if '://' not in uri and not os.path.isabs(uri) and not tf.io.gfile.exists(uri):
    uri = os.path.join(_PROJECT_ROOT, uri)
  if tf.io.gfile.isdir(uri):
    return weights_path(uri)
  return uri


def save_weights(colorizer, path: str, metadata: dict[str, Any]) -> str:
  """Writes the colorizer's weights (float16) and `metadata` to `path` (local or gs://)."""
  arrays = {}
  for index, weight in enumerate(colorizer.weights):
    value = np.asarray(weight.numpy(), dtype=np.float32)
    half = value.astype(np.float16)
    if not np.all(np.isfinite(half)):
      raise WarmStartError(f'{path}: weight {weight.path} does not fit in float16 (max |w| = '
                           f'{float(np.max(np.abs(value))):.3g})')
    arrays[f'{index:04d}'] = half
  return _write(path, arrays, {**metadata, 'paths': [w.path for w in colorizer.weights]})


def relabel(source: str, path: str, fields: dict[str, Any]) -> dict[str, Any]:
  """Copies the weights file `source` to `path` with `fields` set in its header (a value of None removes the
  key); returns the new header. The weights are unchanged."""
  weights, header = read_weights(resolve(source))
  header = {key: value for key, value in {**header, **fields}.items() if value is not None}
  _write(path, {f'{index:04d}': weight for index, weight in enumerate(weights)}, header)
  return header


def _write(path: str, arrays: dict[str, np.ndarray], header: dict[str, Any]) -> str:
  arrays = {**arrays, _META_KEY: np.frombuffer(json.dumps(header).encode('utf-8'), dtype=np.uint8)}
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **arrays)
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path, 'wb') as f:
    f.write(buffer.getvalue())
  return path


def read_weights(path: str) -> tuple[list[np.ndarray], dict[str, Any]]:
  """The weights (in the model's order) and the header of a weights file; WarmStartError when it is unusable."""
  try:
    with tf.io.gfile.GFile(path, 'rb') as f:
      data = f.read()
  except (tf.errors.NotFoundError, tf.errors.PermissionDeniedError) as e:
    raise WarmStartError(f'training.warm_start_from: cannot read {path}: {e.message}') from None
  try:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
      header = json.loads(bytes(archive[_META_KEY]).decode('utf-8'))
      weights = [archive[key] for key in sorted(k for k in archive.files if k != _META_KEY)]
  except Exception as e:  # pylint: disable=broad-except  # zip, npz or JSON damage: all one reason for the user
    raise WarmStartError(f'training.warm_start_from: {path} is not a colorizer weights file '
                         f'({type(e).__name__}: {e})') from None
  return weights, header


def load_weights(colorizer, uri: str, model_config) -> dict[str, Any]:
  """Assigns the weights at `uri` (a weights file or an exported model) to `colorizer`; returns the file's header.

  The file must come from a colorizer of the same shape (variant, loss, layer sizes); otherwise a WarmStartError
  says which setting differs, rather than a half-loaded model."""
  path = resolve(uri)
  weights, header = read_weights(path)
  shapes = [tuple(w.shape) for w in colorizer.weights]
  if len(weights) != len(shapes) or any(tuple(w.shape) != s for w, s in zip(weights, shapes)):
    current = model_metadata(model_config)
    differ = {k: (header.get(k), v) for k, v in current.items() if k in header and header[k] != v}
    first = next((i for i, (w, s) in enumerate(zip(weights, shapes)) if tuple(w.shape) != s), min(len(weights),
                                                                                                   len(shapes)))
    where = (f'weight {first} ({colorizer.weights[first].path}): {tuple(weights[first].shape)} in the file, '
             f'{shapes[first]} here' if first < min(len(weights), len(shapes)) else
             f'{len(weights)} weights in the file, {len(shapes)} here')
    raise WarmStartError(f'training.warm_start_from: {path} holds a different colorizer: {where}'
                         + (f'; settings that differ (file, this run): {differ}' if differ else ''))
  for variable, value in zip(colorizer.weights, weights):
    variable.assign(value.astype(np.dtype(getattr(variable.dtype, 'as_numpy_dtype', variable.dtype))))
  return {**header, 'path': path}
