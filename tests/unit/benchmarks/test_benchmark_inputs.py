"""What the quality benchmark trains on and from: a reproducible category-balanced draw, ImageNet's encoder."""

import collections
import os

import configs
from contracts import sources

import benchmarks
from benchmarks import balanced


def _photo_folders(root, counts):
  for folder, count in counts.items():
    os.makedirs(root / folder)
    for i in range(count):
      (root / folder / f'image_{i:04d}.jpg').write_bytes(b'x')
  (root / 'SOURCES.md').write_text('not a photo')


def test_balanced_draw_caps_every_folder_and_is_reproducible(tmp_path):
  _photo_folders(tmp_path, {'airplanes': 250, 'ant': 3, 'bonsai': 12})
  photos = balanced.balanced_photos(str(tmp_path), 10)
  per_folder = collections.Counter(os.path.basename(os.path.dirname(path)) for path in photos)
  assert per_folder == {'airplanes': 10, 'ant': 3, 'bonsai': 10}
  assert photos == balanced.balanced_photos(str(tmp_path), 10)  # the same draw every time
  # a draw by hash, not the first files by name
  assert sorted(os.path.basename(p) for p in photos if '/airplanes/' in p) != [f'image_{i:04d}.jpg' for i in range(10)]
  # a larger cap keeps the smaller cap's photos (the draw is a prefix of one order per folder)
  assert set(photos) <= set(balanced.balanced_photos(str(tmp_path), 20))


def test_balanced_draw_is_a_manifest_the_dataset_build_reads(tmp_path):
  _photo_folders(tmp_path / 'photos', {'a': 5, 'b': 2})
  uri = balanced.write_manifest(str(tmp_path / 'photos'), 3, str(tmp_path / 'work' / 'photos.txt'))
  source = sources.parse_input_uri(uri)
  assert source.kind == 'files'
  assert sorted(source.patterns) == balanced.balanced_photos(str(tmp_path / 'photos'), 3)
  assert len(source.patterns) == 5


def test_benchmarks_train_from_imagenet_not_the_shipped_colorizer():
  shipped = configs.load_config()
  assert shipped.training.warm_start_from  # local.yaml fine-tunes the shipped colorizer ...
  bench = configs.load_config(overrides=benchmarks.from_imagenet_overrides() + ['model.network.variant=fusion',
                                                                                'model.loss.kind=mse'])
  assert bench.training.warm_start_from == ''  # ... a benchmark row starts from ImageNet's encoder
  assert bench.training.optimizer.learning_rate == configs.OptimizerConfig().learning_rate != shipped.training.optimizer.learning_rate
