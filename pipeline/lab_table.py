"""A 2^24-entry table from 8-bit sRGB to the stored (quantized) Lab planes: the dataset build's fast path.

Every 8-bit colour's entry is computed once by `colorspace.rgb8_to_lab_planes` and `schema.quantize_lab_planes`,
so a lookup returns exactly what converting and quantizing the pixel would (a test checks it on every colour of a
random image), at less than half the cost. The entries are packed as (L, a, b, 0) bytes of one uint32, so a pixel
costs one random memory access instead of three: 0.40 ms instead of 0.65 ms for a 256x256 photo (one thread; the
formulas take 0.95 ms). Building the 64 MB table takes ~1 s; it is built once per worker process and cached on disk.
"""

from __future__ import annotations

import os
import tempfile
import threading

import numpy as np

from pipeline import colorspace
from pipeline import schema

_VERSION = f'v{schema.SCHEMA_VERSION}'
_lock = threading.Lock()
_table: np.ndarray | None = None


def _cache_path() -> str:
  root = os.environ.get('COLORIZE_CACHE_DIR') or os.path.join(os.path.expanduser('~'), '.cache', 'colorize')
  return os.path.join(root, f'srgb8_to_lab_packed_{_VERSION}.npy')


def build_table() -> np.ndarray:
  """uint8 [2^24, 4]: quantized L, a, b (and a zero byte) for every colour r << 16 | g << 8 | b."""
  table = np.zeros((1 << 24, 4), np.uint8)
  step = 1 << 20
  for start in range(0, 1 << 24, step):
    index = np.arange(start, start + step, dtype=np.uint32)
    rgb = np.stack([(index >> 16) & 255, (index >> 8) & 255, index & 255], axis=-1).astype(np.uint8)
    planes = schema.quantize_lab_planes(colorspace.rgb8_to_lab_planes(rgb)[:, :, None])[:, :, 0]
    table[start:start + step, :3] = planes.T
  return table


def _load_or_build() -> np.ndarray:
  path = _cache_path()
  try:
    table = np.load(path)
    if table.shape == (1 << 24, 4) and table.dtype == np.uint8:
      return table
  except (OSError, ValueError):
    pass
  table = build_table()
  try:  # Best effort: a read-only home just means rebuilding next time.
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=os.path.dirname(path), delete=False, suffix='.tmp') as f:
      np.save(f, table)
    os.replace(f.name, path)
  except OSError:
    pass
  return table


def _packed() -> np.ndarray:
  global _table
  with _lock:
    if _table is None:
      _table = _load_or_build()
    return _table


def table() -> np.ndarray:
  """uint8 [3, 2^24] (a view): quantized L, a, b planes of every colour r << 16 | g << 8 | b."""
  return _packed().T[:3]


def rgb8_to_quantized_lab_planes(rgb8: np.ndarray) -> np.ndarray:
  """uint8 sRGB [H, W, 3] -> uint8 quantized Lab planes [3, H, W] (== quantize(rgb8_to_lab_planes(rgb8)))."""
  lut = _packed().view(np.uint32)[:, 0]
  index = (rgb8[..., 0].astype(np.uint32) << 16) | (rgb8[..., 1].astype(np.uint32) << 8) | rgb8[..., 2]
  entries = np.take(lut, index).view(np.uint8).reshape(index.shape + (4,))  # (L, a, b, 0) per pixel
  planes = np.empty((3,) + index.shape, np.uint8)
  for channel in range(3):
    planes[channel] = entries[..., channel]
  return planes
