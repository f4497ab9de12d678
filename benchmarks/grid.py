"""The picture every quality benchmark writes: one row per photo, gray | each model's colorization | original."""

from __future__ import annotations

import os
import re

CHAR_WIDTH, LINE_HEIGHT = 6, 12  # PIL's default bitmap font


def _wrap(name: str, width: int) -> list[str]:
  """A column title in lines of at most `width` characters, broken after / + @ : ; . or = where it can be (long
  variant names such as unet/classification+l1_chroma would run into the next column)."""
  lines = ['']
  for piece in re.findall(r'[^/+@:;.=]+[/+@:;.=]?|[/+@:;.=]', name):
    while len(piece) > width:  # a piece longer than a line is cut
      if lines[-1]:
        lines.append('')
      lines[-1], piece = piece[:width], piece[width:]
      lines.append('')
    if lines[-1] and len(lines[-1]) + len(piece) > width:
      lines.append('')
    lines[-1] += piece
  return [line for line in lines if line] or ['']


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
  titles = [_wrap(name, max(1, (size - 6) // CHAR_WIDTH)) for name in [name for name, _ in columns] + ['original']]
  height = LINE_HEIGHT * max(len(lines) for lines in titles) + 6
  header = Image.new('RGB', (picture.shape[1], height), 'white')
  draw = ImageDraw.Draw(header)
  for j, lines in enumerate(titles):
    for k, line in enumerate(lines):
      draw.text((j * size + 3, 3 + k * LINE_HEIGHT), line, fill='black')
  canvas = Image.new('RGB', (picture.shape[1], picture.shape[0] + height), 'white')
  canvas.paste(header, (0, 0))
  canvas.paste(Image.fromarray(picture), (0, height))
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  canvas.save(path)
