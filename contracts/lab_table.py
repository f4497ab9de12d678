"""A 2^24-entry table from 8-bit sRGB to the stored (quantized) Lab planes: the dataset build's fast path.

Every 8-bit colour's entry is computed once by `colorspace.rgb8_to_lab_planes` and `schema.quantize_lab_planes`,
so a lookup returns exactly what converting and quantizing the pixel would (a test checks it on every colour of a
random image), at less than half the cost. The entries are packed as (L, a, b, 0) bytes of one uint32, so a pixel
costs one random memory access instead of three, and they are indexed by `r | g << 8 | b << 16`: the little-endian
uint32 of a pixel in PIL's native 4-byte RGBX layout, so a PIL image's index is its raw bytes with the pad byte
masked off (no per-channel shifts). 256x256 photo, one thread: 0.27 ms from a PIL image, 0.38 ms from an array,
where the formulas take 0.95 ms. Building the 64 MB table takes ~1 s; it is built once per worker process (or
forkserver) and cached on disk.
"""

from __future__ import annotations

import os
import tempfile
import threading

import numpy as np
from PIL import Image

from contracts import colorspace
from contracts import local_files
from contracts import schema

_VERSION = f'v{schema.SCHEMA_VERSION}'
_lock = threading.Lock()
_table: np.ndarray | None = None


def _cache_path() -> str:
  return os.path.join(local_files.cache_dir(), f'srgb8_to_lab_rgbx_{_VERSION}.npy')


def build_table() -> np.ndarray:
  """uint8 [2^24, 4]: quantized L, a, b (and a zero byte) for every colour r | g << 8 | b << 16."""
  table = np.zeros((1 << 24, 4), np.uint8)
  step = 1 << 20
  for start in range(0, 1 << 24, step):
    index = np.arange(start, start + step, dtype=np.uint32)
    rgb = np.stack([index & 255, (index >> 8) & 255, index >> 16], axis=-1).astype(np.uint8)
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
  """uint8 [3, 2^24] (a view): quantized L, a, b planes of every colour r | g << 8 | b << 16."""
  return _packed().T[:3]


def _colour_index(rgb8: np.ndarray | Image.Image) -> tuple[np.ndarray, tuple[int, int]]:
  """Table index (flat) of every pixel, and the image's (height, width)."""
  if isinstance(rgb8, Image.Image):
    if rgb8.mode != 'RGB':
      raise ValueError(f'expected an RGB image, got mode {rgb8.mode}')
    index = np.frombuffer(rgb8.tobytes('raw', 'RGBX'), '<u4') & np.uint32(0xFFFFFF)
    return index, (rgb8.height, rgb8.width)
  rgb8 = np.asarray(rgb8)
  if rgb8.dtype != np.uint8 or rgb8.ndim != 3 or rgb8.shape[-1] != 3:
    raise ValueError(f'expected uint8 RGB [H, W, 3], got {rgb8.dtype} {rgb8.shape}')
  index = rgb8[..., 0].astype(np.intp)
  index |= rgb8[..., 1].astype(np.intp) << 8
  index |= rgb8[..., 2].astype(np.intp) << 16
  return index.ravel(), rgb8.shape[:2]


def rgb8_to_quantized_lab_planes(rgb8: np.ndarray | Image.Image) -> np.ndarray:
  """8-bit sRGB (uint8 [H, W, 3] or an RGB PIL image) -> uint8 quantized Lab planes [3, H, W], equal to
  quantize_lab_planes(rgb8_to_lab_planes(rgb8))."""
  index, shape = _colour_index(rgb8)
  entries = np.take(_packed().view(np.uint32)[:, 0], index)  # (L, a, b, 0) bytes per pixel
  planes = np.ascontiguousarray(entries.view(np.uint8).reshape(-1, 4).T[:3])
  return planes.reshape((3,) + shape)
