"""`tfds:<name>/<split>` inputs: a real TFDS dataset prepared offline in the test, and the fail-fast errors.

The dataset is built here from the bundled sample photos by a real `GeneratorBasedBuilder`, so the build reads it
through the same `tfds.builder` + `tfds.beam.ReadFromTFDS` path as any prepared catalog dataset, with no network.
"""

import glob
import os
import time

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import configs
from pipeline import build_dataset
from contracts import schema
from contracts import sources
from tests.conftest import SAMPLE_PHOTOS
from tests.conftest import sample_photo_paths

NUM_EXAMPLES = 6
PHOTO_SIDE = 48  # Above data.min_side (32), small enough to keep the dataset tiny.
IMAGE_SIZE = 32


def _file_name(path: str) -> str:
  return os.path.relpath(path, SAMPLE_PHOTOS).replace(os.sep, '/')


class ColorizeTinySamplePhotos(tfds.core.GeneratorBasedBuilder):
  """A few sample photos, resized small, with their relative file names (registered as colorize_tiny_sample_photos)."""

  VERSION = tfds.core.Version('1.0.0')
  # Nothing is downloaded, so there are no URL checksums to look up. Saying so also stops TFDS from locating this
  # module's source file to find a checksums.tsv, which fails (no `importlib_resources`) when the module is
  # imported as `tests.test_tfds_source` from the `tests/` namespace package.
  url_infos = None

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(None, None, 3)),
            'file_name': tfds.features.Text(),
        }))

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: the photos ship with the repository.
    return {'train': self._generate_examples(sample_photo_paths(NUM_EXAMPLES))}

  def _generate_examples(self, paths):
    for path in paths:
      image = Image.open(path).convert('RGB').resize((PHOTO_SIDE, PHOTO_SIDE), Image.BILINEAR)
      yield _file_name(path), {'image': np.asarray(image), 'file_name': _file_name(path)}


NAME = ColorizeTinySamplePhotos.name


def _config(tmp_path, input_uri, tfds_data_dir):
  return configs.load_config(overrides=[
      f'data.input_uri={input_uri}',
      f'data.tfds_data_dir={tfds_data_dir}',
      f'data.output_dir={tmp_path / "datasets"}',
      f'data.image_size={IMAGE_SIZE}',
      'data.augmentation.copies=0',
      'data.shards={train: 1, eval: 1, test: 1}',
  ])


@pytest.fixture(scope='module')
def tfds_data_dir(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp('tfds')
  builder = ColorizeTinySamplePhotos(data_dir=str(data_dir))
  builder.download_and_prepare(download_dir=str(data_dir / 'downloads'))
  assert builder.info.splits['train'].num_examples == NUM_EXAMPLES
  return str(data_dir)


@pytest.fixture(scope='module')
def tfds_build(tfds_data_dir, tmp_path_factory):
  return build_dataset.run_build(_config(tmp_path_factory.mktemp('out'), f'tfds:{NAME}/train', tfds_data_dir))


def test_prepared_tfds_dataset_is_built(tfds_build):
  manifest = tfds_build.manifest
  assert manifest['source']['input_uri'] == f'tfds:{NAME}/train'
  assert manifest['source']['files_read'] == NUM_EXAMPLES
  assert sum(s['photos'] for s in manifest['splits'].values()) == NUM_EXAMPLES
  assert sum(s['examples'] for s in manifest['splits'].values()) == NUM_EXAMPLES  # copies=0
  assert manifest['dead_letters']['total'] == 0
  assert sum(v for k, v in tfds_build.counters.items() if k.startswith('photos_')) == NUM_EXAMPLES


def test_tfds_records_name_their_example(tfds_build):
  records = []
  for info in tfds_build.manifest['splits'].values():
    for relative in info['shards']:
      path = os.path.join(tfds_build.version_dir, relative)
      records += [schema.decode_example_numpy(r.numpy())
                  for r in tf.data.TFRecordDataset(path, compression_type='GZIP')]
  expected = sorted(f'tfds:{NAME}/train#{_file_name(p)}' for p in sample_photo_paths(NUM_EXAMPLES))
  assert sorted(r[schema.SOURCE_URI] for r in records) == expected
  for r in records:
    assert r[schema.LAB].shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    # Colour survived the TFDS round trip (PNG inside TFDS, PNG again in ReadTfds): chroma is not all zero.
    assert np.abs(r[schema.LAB][..., 1:]).max() > 5.0


def test_missing_split_fails_fast(tfds_data_dir, tmp_path):
  with pytest.raises(sources.SourceError, match="no split 'validation'"):
    build_dataset.run_build(_config(tmp_path, f'tfds:{NAME}/validation', tfds_data_dir))


def test_unprepared_catalog_dataset_fails_fast(tmp_path):
  empty = tmp_path / 'empty_tfds'
  empty.mkdir()
  start = time.monotonic()
  with pytest.raises(sources.SourceError, match='not downloaded/prepared'):
    build_dataset.run_build(_config(tmp_path, 'tfds:cifar10/train', str(empty)))
  assert time.monotonic() - start < 60  # No download attempt, no waiting on the network.
  # Nothing that looks like a dataset was left behind.
  assert not glob.glob(str(tmp_path / 'datasets' / '*' / schema.MANIFEST_FILE))
  assert not glob.glob(str(empty / '**' / '*.tfrecord*'), recursive=True)


def test_unknown_tfds_name_fails(tmp_path):
  with pytest.raises(sources.SourceError, match='unknown TFDS dataset'):
    build_dataset.run_build(_config(tmp_path, 'tfds:no_such_dataset_for_colorize_tests/train', str(tmp_path)))
