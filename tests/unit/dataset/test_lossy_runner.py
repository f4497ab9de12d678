"""A runner that loses records never yields a complete dataset.

Beam's DaskRunner silently drops whatever a DoFn emits from `finish_bundle` (dependencies note; dask/distributed
are not installed in this environment, so it cannot run here). The build refuses it up front; and the loss itself
is reproduced in a real Beam pipeline by a shard writer whose `finish_bundle` writes its shards but emits nothing,
which is exactly what Dask does to the real one. The build must fail with its "records lost" error and leave
neither a manifest nor a LATEST pointer.
"""

import glob
import os

import pytest

import configs
from contracts import beam_options
from contracts import dataset_version
from contracts import schema
from dataset import build as dataset_build
from dataset import pool
from dataset import shard_writer
from pipeline import build_dataset
from tests.conftest import copy_sample_photos

NUM_PHOTOS = 8


class _DaskLikeWriteShardFn(shard_writer._WriteShardFn):  # pylint: disable=protected-access
  """The real shard writer, with its finish_bundle run (the shards are written) and its outputs dropped."""

  def finish_bundle(self):
    for _ in super().finish_bundle():
      pass


def _config(photos, output_dir, *overrides):
  return configs.load_config(overrides=[
      f'data.input_uri={photos}', f'data.output_dir={output_dir}', 'data.image_size=32', 'data.min_side=24',
      'data.augmentation.copies=0', 'data.shards={train: 2, eval: 1, test: 1}', *overrides])


def _assert_nothing_complete(output_dir):
  assert not glob.glob(os.path.join(str(output_dir), '**', schema.MANIFEST_FILE), recursive=True)
  assert not os.path.exists(os.path.join(str(output_dir), 'LATEST'))
  with pytest.raises(dataset_version.DatasetNotFound):
    dataset_version.resolve(str(output_dir))


def test_lost_finish_bundle_outputs_fail_the_build(tmp_path, monkeypatch):
  photos = copy_sample_photos(tmp_path / 'photos', NUM_PHOTOS)
  monkeypatch.setattr(shard_writer, '_WriteShardFn', _DaskLikeWriteShardFn)
  with pytest.raises(Exception, match='records lost') as raised:
    build_dataset.run_build(_config(photos, tmp_path / 'out'))
  assert 'refusing to write the manifest' in str(raised.value)
  _assert_nothing_complete(tmp_path / 'out')


@pytest.mark.parametrize('how', ['config', 'command_line'])
def test_dask_runner_is_refused_before_anything_is_written(tmp_path, how):
  dask = 'apache_beam.runners.dask.dask_runner.DaskRunner'
  out = tmp_path / 'out'
  config = _config(tmp_path / 'photos', out, *([f'runner.beam_runner={dask}'] if how == 'config' else []))
  with pytest.raises(beam_options.UnsupportedRunnerError, match='finish_bundle'):
    dataset_build.run_build(config, extra_beam_args=[f'--runner={dask}'] if how == 'command_line' else [])
  assert not out.exists()


def test_supported_runners_pass_the_check():
  for args in (['--runner=apache_beam.runners.portability.fn_api_runner.FnApiRunner'], ['--runner=PortableRunner'],
               ['--runner', 'DataflowRunner'], ['--runner=DaskRunner', '--runner=FlinkRunner']):
    beam_options.check_runner(args)


class _DaskLikeProcessPhotosFn(pool.ProcessPhotosFn):
  """The real photo stage, dropping what its finish_bundle emits: whole file batches, with their records and their
  source facts (which is why the records check alone cannot see this loss: encoded and written agree)."""

  def finish_bundle(self):
    for _ in super().finish_bundle():
      pass


def test_files_lost_with_their_records_fail_the_build(tmp_path, monkeypatch):
  photos = copy_sample_photos(tmp_path / 'photos', NUM_PHOTOS)
  monkeypatch.setattr(pool, 'ProcessPhotosFn', _DaskLikeProcessPhotosFn)
  with pytest.raises(Exception, match=f'files lost: {NUM_PHOTOS} files were listed but 0 reached'):
    build_dataset.run_build(_config(photos, tmp_path / 'out', 'data.photo_pool=thread'))
  _assert_nothing_complete(tmp_path / 'out')
