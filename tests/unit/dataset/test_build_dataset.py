"""The dataset build as a real Beam pipeline over real files: records, splits, dead letters, rebuilds, failures."""

import collections
import dataclasses
import glob
import io
import json
import os
import shutil

import numpy as np
from PIL import Image
import pytest
from skimage import color
import tensorflow as tf

import configs
from pipeline import build_dataset
from contracts import dataset_version
from contracts import decode
from contracts import geometry
from contracts import schema
from dataset import build as dataset_build
from dataset import records
from tests.conftest import sample_photo_paths

IMAGE_SIZE = 32
COPIES = 2


def _png(image):
  buffer = io.BytesIO()
  image.save(buffer, format='PNG')
  return buffer.getvalue()


@pytest.fixture(scope='module')
def photo_folder(tmp_path_factory):
  """16 good photos (some nested), and one file for every way a file can be unusable."""
  root = tmp_path_factory.mktemp('photos')
  good = sample_photo_paths(16)
  for i, path in enumerate(good):
    target = root / ('nested/deeper' if i % 3 == 0 else '') / f'{i:02d}_{os.path.basename(path)}'
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, target)
  jpeg = open(good[0], 'rb').read()
  photo = Image.open(good[1]).convert('RGB')
  png = bytearray(_png(photo))
  start = png.find(b'IDAT') + 20
  png[start:start + 40] = bytes(40)
  bad = {
      'empty.jpg': (b'', decode.EMPTY),
      'notes.txt': (b'not a picture\n' * 20, decode.NOT_AN_IMAGE),
      'truncated.jpg': (jpeg[: len(jpeg) // 2], decode.TRUNCATED),
      'corrupt.png': (bytes(png), decode.CORRUPT),
      'tiny.png': (_png(photo.resize((20, 20))), decode.TOO_SMALL),
      'huge.png': (_png(Image.new('RGB', (3000, 2000), (200, 30, 30))), decode.TOO_LARGE),
      'gray.jpg': (_png(photo.convert('L').convert('RGB')), decode.GRAYSCALE),
      'zz_duplicate.jpg': (open(good[2], 'rb').read(), decode.DUPLICATE),
  }
  for name, (data, _) in bad.items():
    (root / name).write_bytes(data)
  expected_dead = {str(root / name): reason for name, (_, reason) in bad.items()}
  good_uris = sorted(glob.glob(str(root / '**' / '*_image_*.jpg'), recursive=True))
  assert len(good_uris) == 16
  return root, good_uris, expected_dead


def _config(input_uri, output_dir, **overrides):
  base = [f'data.input_uri={input_uri}', f'data.output_dir={output_dir}', f'data.image_size={IMAGE_SIZE}',
          'data.min_side=24', 'data.max_pixels=5000000', f'data.augmentation.copies={COPIES}',
          'data.shards={train: 3, eval: 1, test: 1}', 'data.split_ratios={train: 0.6, eval: 0.2, test: 0.2}']
  return configs.load_config(overrides=base + [f'{k}={v}' for k, v in overrides.items()])


@pytest.fixture(scope='module')
def builds(photo_folder, tmp_path_factory):
  root, _, _ = photo_folder
  out = tmp_path_factory.mktemp('datasets')
  config = _config(str(root), str(out))
  first = build_dataset.run_build(config)
  second = build_dataset.run_build(config)  # a rebuild: new version folder, same inputs
  return config, first, second


def read_records(version_dir, split):
  files = sorted(glob.glob(os.path.join(version_dir, schema.split_file_pattern(split))))
  return [schema.decode_example_numpy(r.numpy())
          for r in tf.data.TFRecordDataset(files, compression_type='GZIP')]


def test_every_bad_file_is_a_dead_letter_with_its_reason(photo_folder, builds):
  _, good_uris, expected_dead = photo_folder
  _, first, _ = builds
  with open(os.path.join(first.version_dir, schema.DEAD_LETTERS_FILE)) as f:
    letters = [json.loads(line) for line in f]
  assert {l['uri']: l['reason'] for l in letters} == expected_dead
  assert all(l['stage'] and l['detail'] for l in letters)
  # ... while every good photo still came through.
  uris = {r[schema.SOURCE_URI] for split in ('train', 'eval', 'test') for r in read_records(first.version_dir, split)}
  assert uris == set(good_uris)


def test_counters_and_manifest_agree(photo_folder, builds):
  _, good_uris, expected_dead = photo_folder
  _, first, _ = builds
  m, counters = first.manifest, first.counters
  assert m['schema_version'] == schema.SCHEMA_VERSION
  assert m['source']['files_read'] == counters['files_read'] == len(good_uris) + len(expected_dead)
  assert m['dead_letters']['by_reason'] == dict(collections.Counter(expected_dead.values()))
  for reason, count in m['dead_letters']['by_reason'].items():
    assert counters[f'dead_letters_{reason}'] == count
  for split, s in m['splits'].items():
    assert counters.get(f'examples_{split}', 0) == s['examples'] == len(read_records(first.version_dir, split))
    assert counters.get(f'photos_{split}', 0) == s['photos']
    assert len(s['shards']) == m['config']['shards'][split]
  assert sum(s['photos'] for s in m['splits'].values()) == len(good_uris)
  assert m['splits']['train']['examples'] == m['splits']['train']['photos'] * (COPIES + 1)


def test_records_hold_the_reference_lab_of_the_photo(builds):
  config, first, _ = builds
  records = [r for split in ('eval', 'test', 'train') for r in read_records(first.version_dir, split)
             if r[schema.AUGMENTATION_ID] == 0]
  assert records
  for record in records[:6]:
    rgb = decode.decode_image(open(record[schema.SOURCE_URI], 'rb').read(), min_side=24, max_pixels=10 ** 8,
                              draft_side=int(np.ceil(IMAGE_SIZE / config.data.augmentation.zoom_range[0])))
    resized, mask = geometry.fit(rgb, IMAGE_SIZE, 'crop')
    reference = color.rgb2lab(resized)  # scikit-image: independent of contracts.colorspace
    lab = record[schema.LAB]
    assert lab.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and mask is None and record[schema.MASK].all()
    # Quantization: L step 100/255 (error <= 0.2), ab step 1 (error <= 0.5), plus the conversion's own error.
    assert np.abs(lab[..., 0] - reference[..., 0]).max() <= 0.2 + 0.05
    assert np.abs(lab[..., 1:] - reference[..., 1:]).max() <= 0.5 + 0.05
    assert len(record[schema.CONTENT_HASH]) == 64


def test_splits_are_deterministic_and_copies_never_cross(builds):
  config, first, _ = builds
  split_of_photo = {}
  for split in ('train', 'eval', 'test'):
    for record in read_records(first.version_dir, split):
      content_hash = record[schema.CONTENT_HASH]
      assert split_of_photo.setdefault(content_hash, split) == split  # never in two splits
      assert split == records.assign_split(content_hash, config.data.split_ratios, config.data.seed)
      if split != 'train':
        assert record[schema.AUGMENTATION_ID] == 0  # only the training split is augmented
  assert set(split_of_photo.values()) == {'train', 'eval', 'test'}
  train = read_records(first.version_dir, 'train')
  per_photo = collections.Counter(r[schema.CONTENT_HASH] for r in train)
  assert set(per_photo.values()) == {COPIES + 1}
  # The augmented copies differ from the original and from each other.
  by_photo = collections.defaultdict(list)
  for r in train:
    by_photo[r[schema.CONTENT_HASH]].append(r)
  copies = sorted(next(iter(by_photo.values())), key=lambda r: r[schema.AUGMENTATION_ID])
  assert [r[schema.AUGMENTATION_ID] for r in copies] == list(range(COPIES + 1))
  assert not np.allclose(copies[0][schema.LAB], copies[1][schema.LAB])
  assert not np.allclose(copies[1][schema.LAB], copies[2][schema.LAB])
  assert copies[1][schema.AUGMENTATION_SEED] == geometry.copy_seed(config.data.seed, copies[1][schema.CONTENT_HASH], 1)


def test_rebuild_is_bit_identical_in_a_new_version(builds):
  _, first, second = builds
  assert first.version_dir != second.version_dir
  assert dataset_version.resolve(os.path.dirname(first.version_dir)) == second.version_dir  # LATEST moved on
  first_files = sorted(os.path.relpath(p, first.version_dir)
                       for p in glob.glob(os.path.join(first.version_dir, '**', '*.gz'), recursive=True))
  assert first_files and first_files == sorted(
      os.path.relpath(p, second.version_dir)
      for p in glob.glob(os.path.join(second.version_dir, '**', '*.gz'), recursive=True))
  for relative in first_files + [schema.DEAD_LETTERS_FILE]:
    with open(os.path.join(first.version_dir, relative), 'rb') as a, \
        open(os.path.join(second.version_dir, relative), 'rb') as b:
      assert a.read() == b.read(), relative
  assert first.manifest['source']['fingerprint'] == second.manifest['source']['fingerprint']
  assert first.manifest['splits'] == second.manifest['splits']


def _files_under(folder):
  return sorted(os.path.relpath(p, folder) for p in glob.glob(os.path.join(folder, '**', '*'), recursive=True)
                if os.path.isfile(p))


def test_version_folder_holds_only_the_dataset(builds):
  """The spill files that carried the records to the shard writers are gone before the manifest is written."""
  _, first, _ = builds
  shards = [path for split in first.manifest['splits'].values() for path in split['shards']]
  assert _files_under(first.version_dir) == sorted(shards + [schema.MANIFEST_FILE, schema.DEAD_LETTERS_FILE])
  assert not os.path.exists(os.path.join(first.version_dir, dataset_build.SPILL_DIR))


def test_records_sent_through_the_shuffle_give_the_same_shards(builds, tmp_path):
  """data.spill_records=false (records through the runner's shuffle) writes byte-identical shards."""
  config, first, _ = builds
  shuffled = build_dataset.run_build(_replace_data(config, spill_records=False, output_dir=str(tmp_path)))
  assert shuffled.counters['examples_encoded'] == first.counters['examples_encoded']
  _assert_same_files_but_manifest(first.version_dir, shuffled.version_dir)


def _assert_same_files_but_manifest(expected_dir, actual_dir):
  """Every shard and the dead letters are byte-identical (the manifest differs in its version and timestamp)."""
  for relative in _files_under(expected_dir):
    if relative != schema.MANIFEST_FILE:
      with open(os.path.join(expected_dir, relative), 'rb') as a, open(os.path.join(actual_dir, relative), 'rb') as b:
        assert a.read() == b.read(), relative


def _replace_data(config, **changes):
  return dataclasses.replace(config, data=dataclasses.replace(config.data, **changes))


def test_a_failed_build_leaves_no_complete_version(photo_folder, builds, tmp_path):
  root, _, _ = photo_folder
  config, _, second = builds
  out = os.path.dirname(second.version_dir)
  broken = os.path.join(out, 'broken')
  os.makedirs(broken)
  open(os.path.join(broken, 'Split-train'), 'w').close()  # a file where the train shards' folder must go
  with pytest.raises(Exception, match='Split-train'):
    build_dataset.run_build(config, version_dir=broken)
  assert not os.path.exists(os.path.join(broken, schema.MANIFEST_FILE))
  with pytest.raises(dataset_version.DatasetNotFound):
    dataset_version.read_manifest(broken)
  assert dataset_version.resolve(out) == second.version_dir  # readers still get the last good version


def test_letterbox_records_carry_the_padding_mask(photo_folder, tmp_path):
  root, _, _ = photo_folder
  config = _config(os.path.join(str(root), 'nested'), str(tmp_path), **{
      'data.resize_mode': 'letterbox', 'data.augmentation.copies': 0,
      'data.split_ratios': '{train: 1.0}', 'data.shards': '{train: 1}'})
  result = build_dataset.run_build(config)
  records = read_records(result.version_dir, 'train')
  assert records
  for record in records:
    rgb = np.asarray(Image.open(record[schema.SOURCE_URI]).convert('RGB'))
    height, width = rgb.shape[:2]
    mask = record[schema.MASK]
    valid_rows, valid_cols = mask.any(axis=1).sum(), mask.any(axis=0).sum()
    # The photo's aspect ratio survives in the valid region; the rest is padding.
    assert abs(valid_cols / valid_rows - width / height) < 0.15
    assert not mask.all()


def test_tf_decoding_matches_numpy_decoding(builds):
  """The trainer's graph-side reader returns what the NumPy reader returns (one schema, two readers)."""
  _, first, _ = builds
  files = sorted(glob.glob(os.path.join(first.version_dir, schema.split_file_pattern('train'))))
  serialized = next(iter(tf.data.TFRecordDataset(files, compression_type='GZIP')))
  parsed = tf.io.parse_single_example(serialized, schema.feature_spec())
  l, ab, mask = schema.decode_lab_tf(parsed, IMAGE_SIZE)
  expected = schema.decode_example_numpy(serialized.numpy())
  np.testing.assert_allclose(l.numpy()[..., 0], expected[schema.LAB][..., 0], atol=1e-4)
  np.testing.assert_allclose(ab.numpy(), expected[schema.LAB][..., 1:], atol=1e-4)
  np.testing.assert_array_equal(mask.numpy()[..., 0] > 0.5, expected[schema.MASK])


def test_multi_processing_runner_gives_the_same_shards(builds, tmp_path):
  """Beam's gRPC-connected SDK workers (as on Dataflow/Flink/Spark) run the per-photo process pool too: its
  processes come from a forkserver, never forked from a worker that talks gRPC."""
  config, first, _ = builds
  config = dataclasses.replace(config, runner=dataclasses.replace(
      config.runner, direct_running_mode='multi_processing', direct_num_workers=2))
  result = build_dataset.run_build(_replace_data(config, output_dir=str(tmp_path)))
  assert result.manifest['splits'] == first.manifest['splits']
  _assert_same_files_but_manifest(first.version_dir, result.version_dir)
