"""ImageNet-1k class index -> WordNet synset id, offline, from a file tensorflow-datasets already ships.

The ILSVRC-2012 class index order (that of every 1000-way ImageNet classifier, the EfficientNet-Lite0 port
included) is the synset ids sorted; tfds' `imagenet_resized_labels.txt` lists the same 1000 ids in another order.
"""

import functools
import importlib.util
import os

LABELS_FILE = os.path.join('image_classification', 'imagenet_resized_labels.txt')


@functools.lru_cache(maxsize=1)
def _synsets():
  spec = importlib.util.find_spec('tensorflow_datasets')  # Locates the package without importing it.
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError(f'ImageNet labels need tensorflow-datasets (requirements/base.lock) for {LABELS_FILE}')
  path = os.path.join(list(spec.submodule_search_locations)[0], LABELS_FILE)
  with open(path, encoding='utf-8') as f:
    ids = sorted({line.strip() for line in f if line.strip()})
  if len(ids) != 1000 or ids[0] != 'n01440764':  # Index 0 is tench in the ILSVRC order.
    raise ValueError(f'{path}: expected 1000 ImageNet synsets starting at n01440764, got {len(ids)}')
  return tuple(ids)


def synsets():
  """WordNet ids, one per ImageNet class index (index 0 = n01440764, tench)."""
  return list(_synsets())
