"""The dataset build's edges: a missing input, a build of nothing, split assignment, Beam's state sampling (the
build itself: tests/unit/dataset/test_build_dataset.py)."""

import os

import pytest
import tensorflow as tf

from contracts import beam_options
from contracts import decode
from dataset import records
from pipeline import build_dataset
from tests.unit.dataset.test_build_dataset import _config


def test_missing_input_is_a_clear_error(tmp_path):
  from contracts import sources
  with pytest.raises(sources.SourceError, match='no such file or folder'):
    build_dataset.run_build(_config(str(tmp_path / 'nowhere'), str(tmp_path)))


def test_split_assignment_does_not_depend_on_mapping_order():
  hashes = [f'{i:064x}' for i in range(200)]
  one = {'train': 0.8, 'eval': 0.1, 'test': 0.1}
  other = {'test': 0.1, 'eval': 0.1, 'train': 0.8}
  assert [records.assign_split(h, one, 0) for h in hashes] == [records.assign_split(h, other, 0) for h in hashes]


def test_short_state_sampling_applies_only_inside_the_block():
  """run_build shortens the sampling period of Beam's in-process workers (each bundle's end joins the sampling
  thread, which sleeps up to a period) while its pipeline runs, and leaves Beam's default afterwards."""
  from apache_beam.runners.worker import statesampler
  from apache_beam.utils import counters

  def period():
    return statesampler.StateSampler('test', counters.CounterFactory()).sampling_period_ms

  default = period()
  with beam_options.short_state_sampling(period_ms=7):
    assert period() == 7
  assert period() == default == statesampler.DEFAULT_SAMPLING_PERIOD_MS


def test_no_usable_photo_still_gives_every_shard_and_a_manifest(tmp_path):
  """Shards that receive no record exist as valid empty files (written after the shard writers, which receive
  nothing here), and a build of nothing completes with zero counts."""
  photos = tmp_path / 'photos'
  photos.mkdir()
  (photos / 'notes.txt').write_bytes(b'not a picture\n')
  for input_uri, reasons in ((str(photos), {decode.NOT_AN_IMAGE: 1}),
                             (str(tmp_path / 'missing' / '*.jpg'), {decode.UNREADABLE: 1})):
    result = build_dataset.run_build(_config(input_uri, str(tmp_path / 'out')))
    m = result.manifest
    assert m['dead_letters']['by_reason'] == reasons
    for split, count in {'train': 3, 'eval': 1, 'test': 1}.items():
      assert m['splits'][split]['examples'] == 0
      shards = [os.path.join(result.version_dir, p) for p in m['splits'][split]['shards']]
      assert len(shards) == count and all(os.path.exists(p) for p in shards)
      assert not list(tf.data.TFRecordDataset(shards, compression_type='GZIP'))
