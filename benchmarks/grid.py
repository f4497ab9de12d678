"""The picture every quality benchmark writes: one row per photo, gray | each model's colorization | original."""

from __future__ import annotations

import os


def draw_grid(records, columns: list[tuple[str, list]], path: str) -> None:
  """One row per photo: gray | each variant's colorization | original, with a header row of names."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image, ImageDraw  # pylint: disable=g-import-not-at-top
  from contracts import colorspace  # pylint: disable=g-import-not-at-top
  from contracts import schema  # pylint: disable=g-import-not-at-top
  rows = []
  for i, record in enumerate(records):
    lab = record[schema.LAB]
    cells = [colorspace.lab_to_rgb8(np.concatenate([lab[..., :1], np.asarray(ab[i])], -1)) for _, ab in columns]
    rows.append(np.concatenate(cells + [colorspace.lab_to_rgb8(lab)], axis=1))
  picture = np.concatenate(rows, axis=0)
  size = records[0][schema.LAB].shape[1]
  header = Image.new('RGB', (picture.shape[1], 18), 'white')
  draw = ImageDraw.Draw(header)
  for j, name in enumerate([name for name, _ in columns] + ['original']):
    draw.text((j * size + 3, 3), name, fill='black')
  canvas = Image.new('RGB', (picture.shape[1], picture.shape[0] + 18), 'white')
  canvas.paste(header, (0, 0))
  canvas.paste(Image.fromarray(picture), (0, 18))
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  canvas.save(path)
