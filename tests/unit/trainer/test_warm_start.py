"""Warm start (`training.warm_start_from`): every export carries its colorizer's weights, a new run starts from
them (local, ram:// as a non-local filesystem), and a file of another model is a clear error, never a half-load."""

import numpy as np
import pytest
import tensorflow as tf

import configs
from tests.conftest import TINY_MODEL
from tests.trainer_datasets import small_dataset  # pylint: disable=unused-import (a fixture)
from trainer.loop import warm_start
from trainer.networks import fusion
from trainer import train as train_lib


def beta_config(*overrides):
  return configs.load_config(overrides=[*TINY_MODEL, 'model.loss.kind=mse', 'training.batch_size_per_replica=4',
                                        'training.checkpoint_every_steps=1000', *overrides])


def _predict(export_dir, l):
  return tf.saved_model.load(export_dir).signatures['predict_ab'](l=tf.constant(l))['ab'].numpy()


def test_a_run_warm_started_from_an_export_starts_where_that_model_ended(small_dataset, tmp_path):
  l = np.random.default_rng(0).uniform(0, 100, (2, 32, 32, 1)).astype(np.float32)
  first = train_lib.train(beta_config(), small_dataset, str(tmp_path / 'first'), max_steps=30)
  assert tf.io.gfile.exists(f'{first.export_dir}/{warm_start.WEIGHTS_DIR}/{warm_start.WEIGHTS_FILE}')
  expected = _predict(first.export_dir, l)
  # One step at a negligible learning rate: what the second run exports is what it started from.
  still = ['training.optimizer.learning_rate=1e-12', 'training.schedule.warmup_fraction=0']
  warm = train_lib.train(beta_config(*still, f'training.warm_start_from={first.export_dir}'), small_dataset,
                         str(tmp_path / 'warm'), max_steps=1)
  cold = train_lib.train(beta_config(*still), small_dataset, str(tmp_path / 'cold'), max_steps=1)
  warm_error = np.abs(_predict(warm.export_dir, l) - expected).mean()
  cold_error = np.abs(_predict(cold.export_dir, l) - expected).mean()
  print(f'mean |ab - first run| warm {warm_error:.4f}, cold {cold_error:.4f}')
  assert warm_error < 0.05, warm_error  # ab units (measured 0.004): float16 weights, one batch-norm update
  assert cold_error > 10 * warm_error


def test_weights_round_trip_through_a_non_local_filesystem_and_a_saved_model_folder():
  config = beta_config()
  source = fusion.build_colorizer(config.model)
  model_dir = 'ram://warm_start_test/model'
  path = warm_start.save_weights(source, f'{model_dir}/{warm_start.WEIGHTS_DIR}/{warm_start.WEIGHTS_FILE}',
                                 warm_start.model_metadata(config.model))
  assert warm_start.resolve(model_dir) == path  # a model folder names its weights file
  target = fusion.build_colorizer(config.model)
  assert max(float(np.abs(a.numpy() - b.numpy()).max()) for a, b in zip(source.weights, target.weights)) > 0.01
  header = warm_start.load_weights(target, model_dir, config.model)
  assert header['variant'] == 'beta' and header['encoder_filters'] == [8, 16, 32] and header['path'] == path
  for a, b in zip(source.weights, target.weights):
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-3, atol=1e-4)  # float16 storage


def test_a_file_of_another_model_or_not_a_weights_file_is_a_clear_error(tmp_path):
  small = beta_config()
  path = warm_start.save_weights(fusion.build_colorizer(small.model), str(tmp_path / 'w.npz'),
                                 warm_start.model_metadata(small.model))
  wider = beta_config('model.network.encoder_filters=[8, 16, 64]')
  target = fusion.build_colorizer(wider.model)
  before = [w.numpy().copy() for w in target.weights]
  with pytest.raises(warm_start.WarmStartError, match=r'w\.npz holds a different colorizer.*encoder_filters'):
    warm_start.load_weights(target, path, wider.model)
  assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, target.weights))  # nothing half-loaded
  (tmp_path / 'junk.npz').write_bytes(b'not a zip file')
  with pytest.raises(warm_start.WarmStartError, match=r'junk\.npz is not a colorizer weights file'):
    warm_start.load_weights(target, str(tmp_path / 'junk.npz'), wider.model)
  with pytest.raises(warm_start.WarmStartError, match=r'cannot read .*missing\.npz'):
    warm_start.load_weights(target, str(tmp_path / 'missing.npz'), wider.model)


def test_the_shipped_colorizer_fits_the_default_config_from_any_working_directory(tmp_path, monkeypatch):
  """local.yaml (so `make demo`) starts from trainer/pretrained/: it resolves against the project, not the cwd."""
  import os  # pylint: disable=g-import-not-at-top
  from tests.conftest import REPO  # pylint: disable=g-import-not-at-top
  from trainer.networks import unet  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(tmp_path)
  config = configs.load_config()
  colorizer = unet.build_unet(config.model)
  fresh = [w.numpy().copy() for w in unet.decoder_variables(colorizer)]
  header = warm_start.load_weights(colorizer, config.training.warm_start_from, config.model)
  assert header['path'] == os.path.join(REPO, 'trainer', 'pretrained', 'colorizer_unet_128.npz')
  # The header records the recipe (configs/shipped_colorizer.yaml) and the corpus (configs/corpus.yaml).
  recipe = configs.load_config(os.path.join(REPO, 'configs', 'shipped_colorizer.yaml'))
  assert header['recipe'] == 'shipped_colorizer.yaml'
  assert (header['variant'], header['loss'], header['image_size']) == (
      recipe.model.network.variant, recipe.model.loss.kind, recipe.data.image_size)
  assert header['weight_averaging']['fraction'] == recipe.training.averaging.fraction
  assert header['hue_repeat_sampling']['threshold'] == recipe.training.sampling.hue_repeat_threshold
  from dataset import corpus  # pylint: disable=g-import-not-at-top
  sources = corpus.load_sources(os.path.join(REPO, 'configs', 'corpus.yaml'))
  assert [s['name'] for s in header['data_sources']] == [s.name for s in sources]
  assert '/' not in header['trained_on']
  assert all(not np.allclose(a, w.numpy()) for a, w in zip(fresh, unet.decoder_variables(colorizer))
             if a.size > 1 and np.std(a) > 0)  # every initialised decoder weight now holds the trained value


def test_a_warm_started_run_exports_the_model_it_started_from_for_the_gate(small_dataset, tmp_path):
  """`start_export_dir`: the starting weights file as it is, served with the decoding chosen on the same eval split,
  next to the candidate (which has moved away from it)."""
  l = np.random.default_rng(1).uniform(0, 100, (2, 32, 32, 1)).astype(np.float32)
  first = train_lib.train(beta_config(), small_dataset, str(tmp_path / 'first'), max_steps=20)
  source = f'{first.export_dir}/{warm_start.WEIGHTS_DIR}/{warm_start.WEIGHTS_FILE}'
  start_dir = str(tmp_path / 'model' / 'Start-Serving')
  result = train_lib.train(beta_config(f'training.warm_start_from={first.export_dir}', 'training.optimizer.learning_rate=0.01'),
                           small_dataset, str(tmp_path / 'second'), max_steps=20, start_export_dir=start_dir)
  with open(source, 'rb') as a, open(warm_start.weights_path(start_dir), 'rb') as b:
    assert a.read() == b.read()
  start_error = np.abs(_predict(start_dir, l) - _predict(first.export_dir, l)).mean()
  candidate_error = np.abs(_predict(result.export_dir, l) - _predict(first.export_dir, l)).mean()
  assert start_error < 0.05, start_error  # float16 weights: the start model serves the first run's colours
  assert candidate_error > 10 * start_error
  cold = train_lib.train(beta_config(), small_dataset, str(tmp_path / 'cold'), max_steps=1,
                         start_export_dir=str(tmp_path / 'cold_start'))
  assert cold.export_dir and not tf.io.gfile.exists(str(tmp_path / 'cold_start'))  # nothing to start from
