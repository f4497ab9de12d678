"""Shared fixtures: the bundled sample photos (never ../shared: a user's clone has no such folder)."""

import glob
import os
import shutil

import numpy as np
import pytest
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_PHOTOS = os.path.join(REPO, 'sample_photos')


# The tiny model every training test uses: a few thousand weights, trained from scratch in seconds. Its exports
# for TFLite and ONNX (training.runtime_exports) would add about 3 s to every run: the tests that check them
# (tests/unit/serving/test_runtime_exports.py) turn them on.
TINY_MODEL = ('model.network.variant=beta', 'training.warm_start_from=', 'model.network.encoder_filters=[8, 16, 32]',
              'training.batch_size_per_replica=2', 'training.runtime_exports=false')
# Its slightly larger sibling for tests that look at what training learns (4 photos per batch).
SMALL_MODEL = ('model.network.variant=beta', 'training.warm_start_from=', 'model.network.encoder_filters=[16, 32, 64]',
               'training.batch_size_per_replica=4', 'training.runtime_exports=false')
# A dataset of a few photos at 32 px, half train, half eval, one shard each; the gate scores the eval split.
TINY_SPLITS = ('data.image_size=32', 'data.split_ratios={train: 0.5, eval: 0.5}', 'evaluation.split=eval',
               'data.shards={train: 1, eval: 1}', 'data.augmentation.copies=0')
# Gate thresholds that a model trained for two steps passes (the pipeline tests check the wiring, not colour).
LOOSE_GATE = ('evaluation.min_delta_psnr=-100', 'evaluation.max_delta_colorfulness=1000',
              'evaluation.min_hue_recall_vs_sepia=0', 'evaluation.min_colorfulness_ratio=0',
              'evaluation.max_desaturation_rate=1')


def tiny_pipeline_overrides(photos, *extra) -> list[str]:
  """Overrides for the whole pipeline on `photos` with the tiny model and the loose gate."""
  return [f'data.input_uri={photos}', *TINY_SPLITS, *TINY_MODEL, *LOOSE_GATE, *extra]


def sample_photo_paths(n=None):
  paths = sorted(glob.glob(os.path.join(SAMPLE_PHOTOS, '*', '*.jpg')))
  return paths if n is None else paths[:: max(1, len(paths) // n)][:n]


def copy_sample_photos(folder, n):
  """Copies n bundled photos into `folder` as `<category>_<file>` (file names repeat across categories)."""
  folder.mkdir(parents=True, exist_ok=True)
  for path in sample_photo_paths(n):
    shutil.copy(path, folder / f'{os.path.basename(os.path.dirname(path))}_{os.path.basename(path)}')
  return folder


@pytest.fixture(scope='session')
def sample_rgb():
  """A few real photos as uint8 RGB arrays."""
  return [np.asarray(Image.open(p).convert('RGB')) for p in sample_photo_paths(8)]


@pytest.fixture(scope='session')
def pushed_models(tmp_path_factory):
  """A tiny trained model pushed twice (`<base>/<version>/`), as TFX's Pusher lays it out."""
  import configs  # pylint: disable=g-import-not-at-top
  from pipeline import build_dataset  # pylint: disable=g-import-not-at-top
  from trainer import train as train_lib  # pylint: disable=g-import-not-at-top
  photos = copy_sample_photos(tmp_path_factory.mktemp('cli_photos'), 6)
  config = configs.load_config(overrides=[
      f'data.input_uri={photos}', f'data.output_dir={tmp_path_factory.mktemp("cli_ds")}', 'data.image_size=32',
      'data.split_ratios={train: 1.0}', 'data.shards={train: 1}', 'data.augmentation.copies=0', *TINY_MODEL])
  version = build_dataset.run_build(config).version_dir
  result = train_lib.train(config, version, str(tmp_path_factory.mktemp('cli_train')), max_steps=2)
  base = tmp_path_factory.mktemp('pushed')
  shutil.copytree(result.export_dir, base / '1700000000')
  shutil.copytree(result.export_dir, base / '1800000000')
  (base / '1800000000' / 'marker').write_text('newest')
  return base
