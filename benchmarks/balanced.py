"""A category-balanced draw from a folder of photos: at most N photos per sub-folder, as a dataset manifest.

Caltech 101's folders range from 2 to 250 photos of one category (airplanes, faces and motorbikes are 28% of
Caltech-3k); a colorizer trained on them learns those categories' colours and does worse on everything else. The
draw is reproducible (the photos of each sub-folder with the smallest md5 of their relative path) and is written as
a `manifest:` file the dataset build reads like any other input.
"""

from __future__ import annotations

import collections
import hashlib
import os

PHOTO_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.webp')


def balanced_photos(folder: str, max_per_folder: int) -> list[str]:
  """The photos of `folder` (searched recursively), at most `max_per_folder` from each sub-folder, sorted."""
  if max_per_folder < 1:
    raise ValueError(f'max_per_folder must be >= 1, got {max_per_folder}')
  by_folder: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
  for dirpath, _, names in os.walk(folder):
    for name in names:
      if name.lower().endswith(PHOTO_SUFFIXES):
        relative = os.path.relpath(os.path.join(dirpath, name), folder)
        key = hashlib.md5(relative.encode()).hexdigest()
        by_folder[os.path.dirname(relative)].append((key, os.path.join(os.path.abspath(folder), relative)))
  chosen = [path for items in by_folder.values() for _, path in sorted(items)[:max_per_folder]]
  if not chosen:
    raise ValueError(f'{folder}: no photos ({", ".join(PHOTO_SUFFIXES)})')
  return sorted(chosen)


def write_manifest(folder: str, max_per_folder: int, manifest_path: str) -> str:
  """Writes the balanced draw of `folder` to `manifest_path`; returns the dataset input URI that reads it."""
  photos = balanced_photos(folder, max_per_folder)
  os.makedirs(os.path.dirname(os.path.abspath(manifest_path)), exist_ok=True)
  with open(manifest_path, 'w', encoding='utf-8') as f:
    f.write('\n'.join(photos) + '\n')
  return f'manifest:{manifest_path}'
