"""Small Lab datasets built by the real dataset build, shared by the trainer tests (imported as fixtures)."""

import os
import shutil

import pytest

import configs
from pipeline import build_dataset
from tests.conftest import sample_photo_paths


def build(tmp_path_factory, name, photos, size, **overrides):
  """A dataset version (train split only, 2 shards, no augmentation) of `photos` at `size` px; its directory."""
  folder = tmp_path_factory.mktemp(f'{name}_photos')
  for path in photos:
    shutil.copy(path, folder / f'{os.path.basename(os.path.dirname(path))}_{os.path.basename(path)}')
  out = tmp_path_factory.mktemp(f'{name}_datasets')
  config = configs.load_config(overrides=[
      f'data.input_uri={folder}', f'data.output_dir={out}', f'data.image_size={size}', 'data.augmentation.copies=0',
      'data.split_ratios={train: 1.0}', 'data.shards={train: 2}'] + [f'{k}={v}' for k, v in overrides.items()])
  return build_dataset.run_build(config).version_dir


@pytest.fixture(scope='module')
def one_photo_dataset(tmp_path_factory):
  strawberry = [p for p in sample_photo_paths() if '/strawberry/' in p][0]  # a vividly coloured photo
  return build(tmp_path_factory, 'one', [strawberry], 32)


@pytest.fixture(scope='module')
def small_dataset(tmp_path_factory):
  return build(tmp_path_factory, 'small', sample_photo_paths(8), 32)
