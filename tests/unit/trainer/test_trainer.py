"""The trainer: model inputs and shapes, losses, the "alpha version" overfit, export/reload in a fresh process,
precomputed embeddings, the classification loss, online augmentation, TFX's run_fn (distribution:
tests/integration/test_trainer_distribute.py)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import configs
from tests.conftest import REPO
from tests.conftest import sample_photo_paths
from tests.conftest import SMALL_MODEL
from tests import trainer_datasets
from tests.trainer_datasets import one_photo_dataset  # pylint: disable=unused-import (a fixture)
from tests.trainer_datasets import small_dataset  # pylint: disable=unused-import (a fixture)
from trainer.networks import fusion
from trainer.objective import flip_averaging
from trainer.objective import losses
from trainer import scaling
from trainer import train as train_lib

PYTHON = sys.executable


def beta_config(*overrides):
  return configs.load_config(overrides=[*SMALL_MODEL, 'model.loss.kind=mse', 'training.optimizer.learning_rate=0.003',
                                        'training.checkpoint_every_steps=1000', *overrides])


def test_model_inputs_shapes_and_the_fusion_embedding_reaches_the_output():
  config = configs.load_config(overrides=['model.network.variant=fusion',
                                          'training.warm_start_from=', 'model.network.encoder_filters=[8, 16, 32]',
                                          'model.network.fusion_channels=16'])
  colorizer = fusion.build_colorizer(config.model, embedding_size=5)
  assert sorted((t.name, tuple(t.shape)) for t in colorizer.inputs) == [('embedding', (None, 5)),
                                                                     ('l', (None, None, None, 1))]
  l = tf.random.stateless_uniform([2, 24, 40, 1], (0, 1), -1.0, 1.0)
  out = colorizer({'l': l, 'embedding': tf.zeros([2, 5])})
  assert out.shape == (2, 24, 40, 2)
  assert float(tf.reduce_max(tf.abs(out))) <= 1.0  # tanh: scaled ab
  # The embedding is an input that matters: another embedding, another prediction for the same L.
  other = colorizer({'l': l, 'embedding': tf.random.stateless_normal([2, 5], (0, 2), stddev=10.0)})
  assert float(tf.reduce_max(tf.abs(other - out))) > 1e-4
  config.model.network.variant = 'beta'
  beta = fusion.build_colorizer(config.model)
  assert [(t.name, tuple(t.shape)) for t in beta.inputs] == [('l', (None, None, None, 1))]
  assert beta({'l': tf.zeros([1, 16, 16, 1])}).shape == (1, 16, 16, 2)


def test_masked_losses_ignore_padding():
  truth = tf.zeros([2, 4, 4, 2])
  prediction = tf.concat([tf.zeros([2, 4, 2, 2]), tf.ones([2, 4, 2, 2])], axis=2)  # wrong only on the right half
  right_half_padding = tf.concat([tf.ones([2, 4, 2, 1]), tf.zeros([2, 4, 2, 1])], axis=2)
  for name, fn in losses.REGRESSION_LOSSES.items():
    assert np.allclose(fn(truth, prediction, right_half_padding).numpy(), 0.0), name
    assert np.all(fn(truth, prediction, tf.ones([2, 4, 4, 1])).numpy() > 0), name
  np.testing.assert_allclose(losses.masked_mse(truth, prediction, tf.ones([2, 4, 4, 1])).numpy(), [0.5, 0.5])


def test_overfitting_one_photo_reproduces_it(one_photo_dataset, tmp_path):
  """The original Keras colorizer's alpha version: one photo, many steps -> loss near zero, colours come back."""
  config = beta_config('training.batch_size_per_replica=2')
  # Seeded: from an unlucky initialization the loss can stall on a plateau (once: 0.070 -> 0.0141 flat from step 480).
  tf.keras.utils.set_random_seed(0)
  result = train_lib.train(config, one_photo_dataset, str(tmp_path), max_steps=500, export=True)
  first, last = result.history['loss'][0], result.history['loss'][-1]
  print(f'overfit: loss {first:.5f} -> {last:.5f}')
  assert last < 0.05 * first
  assert np.sqrt(last) * scaling.AB_SCALE < 5.0  # RMS error below 5 ab units: "near zero"
  from contracts import schema
  from trainer.input import data as data_lib
  info = data_lib.dataset_info(one_photo_dataset)
  record = next(iter(tf.data.TFRecordDataset(info.files['train'], compression_type='GZIP')))
  truth = schema.decode_example_numpy(record.numpy())['lab']
  loaded = tf.saved_model.load(result.export_dir)
  ab = loaded.signatures['predict_ab'](l=tf.constant(truth[None, ..., :1]))['ab'].numpy()[0]
  error = np.abs(ab - truth[..., 1:]).mean()
  spread = np.abs(truth[..., 1:]).mean()  # what predicting gray (ab = 0) would cost
  assert error < 0.25 * spread, (error, spread)


def test_export_reloads_in_a_fresh_process_and_matches_keras(small_dataset, tmp_path):
  config = beta_config()
  result = train_lib.train(config, small_dataset, str(tmp_path), max_steps=3)
  l = np.random.default_rng(0).uniform(0, 100, (2, 32, 32, 1)).astype(np.float32)
  np.save(tmp_path / 'l.npy', l)
  photo = sample_photo_paths()[3]
  script = textwrap.dedent(f"""
      import io, json, numpy as np, tensorflow as tf
      from PIL import Image
      m = tf.saved_model.load({result.export_dir!r})
      ab = m.signatures['predict_ab'](l=tf.constant(np.load({str(tmp_path / 'l.npy')!r})))['ab'].numpy()
      np.save({str(tmp_path / 'ab.npy')!r}, ab)
      data = open({photo!r}, 'rb').read()
      png = m.signatures['serving_default'](images=tf.constant([data, data]))['png'].numpy()
      out = Image.open(io.BytesIO(png[0]))
      # A 1.9-megapixel photo crosses strip boundaries of the full-resolution conversion: the strip-wise output
      # must equal the whole-image composition (original L + bilinearly upsampled ab) computed here directly.
      from contracts import colorspace
      big = Image.open({photo!r}).convert('RGB').resize((1600, 1200), Image.BICUBIC)
      buffer = io.BytesIO(); big.save(buffer, format='PNG')
      served = np.asarray(Image.open(io.BytesIO(
          m.signatures['serving_default'](images=tf.constant([buffer.getvalue()]))['png'].numpy()[0])))
      backend = colorspace.tensorflow_backend()
      l = colorspace.rgb_to_lab(tf.constant(np.asarray(big), tf.float32) / 255.0, backend)[..., :1]
      ab = m.signatures['predict_ab'](l=l[None])['ab'][0]
      whole = tf.cast(tf.round(colorspace.lab_to_rgb(tf.concat([l, ab], -1), backend) * 255.0), tf.uint8).numpy()
      strip_diff = int(np.abs(served.astype(int) - whole.astype(int)).max())
      try:
        m.signatures['serving_default'](images=tf.constant([b'not an image']))
        bad = 'accepted'
      except tf.errors.InvalidArgumentError as e:
        bad = str(e)
      print(json.dumps({{'size': out.size, 'mode': out.mode, 'bad': bad[-300:], 'strip_diff': strip_diff}}))
  """)
  run = subprocess.run([PYTHON, '-c', script], capture_output=True, text=True, cwd=REPO, timeout=300)
  assert run.returncode == 0, run.stderr[-2000:]
  report = json.loads(run.stdout.strip().splitlines()[-1])
  from PIL import Image
  assert tuple(report['size']) == Image.open(photo).size  # the original resolution
  assert report['mode'] == 'RGB'
  assert 'not_an_image' in report['bad']  # the reason word of the one failure vocabulary
  assert report['strip_diff'] <= 1
  # The reloaded tensor signature computes what the Keras model computes.
  colorizer = fusion.build_colorizer(config.model)
  checkpoint = tf.train.Checkpoint(model=colorizer)
  checkpoint.restore(tf.train.latest_checkpoint(os.path.join(tmp_path, 'checkpoints'))).expect_partial()
  # local.yaml serves the mirror-combined output, keeping the chroma (tests/unit/trainer/test_objective.py); mse has no bins
  assert flip_averaging.flip_combination(config.model, num_bins=0) == 'keep_chroma'
  expected = scaling.unscale_ab(flip_averaging.predict_output(colorizer, {'l': scaling.scale_l(tf.constant(l))},
                                                           flip_averaging='keep_chroma')).numpy()
  np.testing.assert_allclose(np.load(tmp_path / 'ab.npy'), expected, atol=1e-3)


def test_fusion_with_precomputed_embeddings_equal_to_in_graph(tmp_path_factory, tmp_path):
  """The dataset build's stored embeddings are what the trainer would compute in the graph from the record."""
  from contracts import schema
  from trainer.input import data as data_lib
  from trainer.networks import embedders
  photos = sample_photo_paths(3)
  version = trainer_datasets.build(tmp_path_factory, 'embedded', photos, 32,
                                   **{'data.precompute_embeddings': 'true', 'model.network.variant': 'fusion'})
  info = data_lib.dataset_info(version)
  assert (info.embedding_name, info.embedding_size) == ('efficientnet_lite0', 1280)
  config = configs.load_config(overrides=['model.network.variant=fusion', 'training.warm_start_from=', 'model.loss.kind=mse',
                                          'model.network.encoder_filters=[8, 16, 32]', 'model.network.fusion_channels=16',
                                          'training.batch_size_per_replica=2'])
  embedder = embedders.load_embedder(config.model)
  for serialized in tf.data.TFRecordDataset(info.files['train'], compression_type='GZIP'):
    record = schema.decode_example_numpy(serialized.numpy())
    l_scaled = scaling.scale_l(tf.constant(record['lab'][None, ..., :1]))
    in_graph = embedder(scaling.gray_to_rgb_0_255(l_scaled, embedder.input_size)).numpy()[0]
    np.testing.assert_allclose(record['embedding'], in_graph, rtol=1e-3, atol=1e-3)
  # Training reads them from the records; the exported model computes them in its graph.
  result = train_lib.train(config, version, str(tmp_path), max_steps=2)
  loaded = tf.saved_model.load(result.export_dir)
  png = loaded.signatures['serving_default'](images=tf.constant([open(photos[0], 'rb').read()]))['png']
  assert png.shape == (1,)


def test_classification_loss_trains_and_exports_annealed_mean(small_dataset, tmp_path):
  """Zhang et al.'s loss end to end: bins + rebalancing stored with the model, annealed mean in the graph."""
  from trainer.objective import color_bins
  config = beta_config('model.loss.kind=classification')
  result = train_lib.train(config, small_dataset, str(tmp_path), max_steps=4)
  stored = json.loads((tmp_path / 'color_bins.json').read_text())
  centers = np.array(stored['centers'], np.float32)
  assert centers.shape == color_bins.ab_bin_centers().shape
  p = np.array(stored['histogram'], np.float64)
  assert p.sum() > 0
  weights = np.array(stored['weights'])
  np.testing.assert_allclose((color_bins.bin_distribution(p) * weights).sum(), 1.0, rtol=1e-4)
  loaded = tf.saved_model.load(result.export_dir)
  ab = loaded.signatures['predict_ab'](l=tf.fill([1, 32, 32, 1], 50.0))['ab'].numpy()
  assert ab.shape == (1, 32, 32, 2)
  # The annealed mean of a distribution over the bins lies inside the bins' hull.
  assert centers[:, 0].min() - 1 <= ab[..., 0].min() and ab[..., 0].max() <= centers[:, 0].max() + 1
  assert centers[:, 1].min() - 1 <= ab[..., 1].min() and ab[..., 1].max() <= centers[:, 1].max() + 1


def test_online_augmentation_flips_l_ab_and_mask_together(small_dataset):
  from trainer.input import data as data_lib
  info = data_lib.dataset_info(small_dataset)
  plain = next(iter(data_lib.make_dataset(info.files['train'], info.image_size, 64, training=False)))
  flipped_any = False
  for seed in range(6):
    tf.random.set_seed(seed)
    augmented = next(iter(data_lib.make_dataset(info.files['train'], info.image_size, 64, training=False,
                                                augment=True)))
    for i in range(plain[0]['l'].shape[0]):
      same = np.allclose(augmented[0]['l'][i], plain[0]['l'][i])
      mirrored = np.allclose(augmented[0]['l'][i], plain[0]['l'][i][:, ::-1])
      assert same or mirrored
      expected_ab = plain[1]['ab'][i] if same else plain[1]['ab'][i][:, ::-1]
      np.testing.assert_allclose(augmented[1]['ab'][i], expected_ab)
      flipped_any |= mirrored and not same
  assert flipped_any


def test_missing_embedder_weights_is_an_error_not_random_weights(tmp_path):
  from trainer.networks import embedders
  for name in ('efficientnet_lite0', 'inception_resnet_v2'):
    config = configs.load_config(overrides=[f'model.network.embedder={name}',
                                            f'model.network.embedder_weights={tmp_path}/missing.weights.h5'])
    with pytest.raises(FileNotFoundError, match='missing.weights.h5'):
      embedders.load_embedder(config.model)


def test_tfx_run_fn_contract(small_dataset, tmp_path):
  """TFX's FnArgs in, SavedModel in serving_model_dir and logs in model_run_dir out."""
  from tfx.components.trainer import fn_args_utils
  config = beta_config()
  fn_args = fn_args_utils.FnArgs(
      working_dir=str(tmp_path / 'work'),
      train_files=[os.path.join(small_dataset, 'Split-train', '*')],  # TFX's io_utils.all_files_pattern
      eval_files=[], train_steps=2, serving_model_dir=str(tmp_path / 'model' / 'Format-Serving'),
      model_run_dir=str(tmp_path / 'model_run'), custom_config={'config': configs.to_dict(config)})
  train_lib.run_fn(fn_args)
  assert os.path.exists(tmp_path / 'model' / 'Format-Serving' / 'saved_model.pb')
  assert any(name.startswith('events.out.tfevents') for name in os.listdir(tmp_path / 'model_run' / 'train'))


def test_time_budget_from_the_config_stops_the_run_and_still_exports(small_dataset, tmp_path):
  """training.time_budget_seconds (what `make demo` sets) ends the step loop long before the epochs would, with
  the usual end-of-run evaluation and export; refused for multi-worker runs and for a negative value."""
  config = beta_config('training.time_budget_seconds=3', 'training.epochs=100000')
  result = train_lib.train(config, small_dataset, str(tmp_path))
  from trainer.input import data as data_lib
  steps_per_epoch = max(1, data_lib.dataset_info(small_dataset).examples['train'] // 4)
  assert 1 <= result.steps < 100000 * steps_per_epoch
  assert result.history['step'][-1] == result.steps  # the final evaluation ran at the last step
  assert tf.saved_model.load(result.export_dir).signatures['predict_ab'] is not None
  with pytest.raises(configs.ConfigError, match='time_budget_seconds'):
    beta_config('training.time_budget_seconds=-1')
  cluster = {'cluster': {'worker': ['localhost:1', 'localhost:2']}, 'task': {'type': 'worker', 'index': 1}}
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv('TF_CONFIG', json.dumps(cluster))
    with pytest.raises(ValueError, match='single-worker'):
      train_lib.train(beta_config('training.time_budget_seconds=3', 'training.strategy=default'), small_dataset,
                      str(tmp_path / 'workers'))


def test_online_zoom_takes_the_same_window_of_l_ab_and_mask():
  from trainer.input import data as data_lib
  size = 32
  x = tf.tile(tf.range(size, dtype=tf.float32)[None, :, None], [size, 1, 1])  # column index
  y = tf.transpose(x, [1, 0, 2])                                               # row index
  features = {'l': x}
  targets = {'ab': tf.concat([x, y], -1), 'mask': tf.cast(x < size / 2, tf.float32)}
  tf.random.set_seed(0)
  windows = set()
  for _ in range(8):
    zoomed_features, zoomed_targets = data_lib._random_zoom(features, targets, size, 0.5, 0.5)
    l, ab, mask = (zoomed_features['l'].numpy(), zoomed_targets['ab'].numpy(), zoomed_targets['mask'].numpy())
    assert l.shape == (size, size, 1) and ab.shape == (size, size, 2) and mask.shape == (size, size, 1)
    np.testing.assert_allclose(l[..., 0], ab[..., 0], atol=1e-4)              # L and ab: the same window
    span = ab[0, -1, 0] - ab[0, 0, 0]
    assert abs(span - (size - 1) * 0.5) < 1e-3                                  # half the side, resized back
    assert abs((ab[-1, 0, 1] - ab[0, 0, 1]) - (size - 1) * 0.5) < 1e-3
    assert set(np.unique(mask)) <= {0.0, 1.0}                                   # the mask stays a mask
    np.testing.assert_array_equal(mask[..., 0] > 0, np.round(ab[..., 0]) < size / 2)
    windows.add((round(float(ab[0, 0, 0]), 2), round(float(ab[0, 0, 1]), 2)))
  assert len(windows) > 1                                                       # a new position each time


def test_online_zoom_range_is_validated():
  with pytest.raises(configs.ConfigError, match='training.sampling.online_zoom_range'):
    configs.load_config(overrides=['training.sampling.online_zoom_range=[0.9, 0.5]'])
  config = configs.load_config(overrides=['training.sampling.online_zoom_range=[0.75, 1.0]'])
  assert tuple(config.training.sampling.online_zoom_range) == (0.75, 1.0)


def test_weight_averaging_exports_the_mean_of_the_last_snapshots(tmp_path_factory, tmp_path):
  """SWA (training.averaging.fraction): the exported colorizer is the mean of the weights at the steps in the
  run's last share, the very weights the checkpoints of those steps hold, and not the last weights."""
  from trainer.input import data as data_lib
  from trainer.loop import warm_start
  from trainer.networks import builder as networks
  from trainer.objective import objective as objective_lib
  dataset = trainer_datasets.build(tmp_path_factory, 'swa', sample_photo_paths(12), 32, **{
      'data.split_ratios': '{train: 0.5, eval: 0.5}', 'data.shards': '{train: 2, eval: 1}'})
  # 4 steps, the last half averaged at every step: snapshots after steps 2, 3 and 4, the three checkpoints kept.
  config = beta_config('training.averaging.fraction=0.5', 'training.averaging.every_steps=1',
                       'training.checkpoint_every_steps=1', 'training.schedule.decay=constant',
                       'training.schedule.warmup_fraction=0')
  result = train_lib.train(config, dataset, str(tmp_path), max_steps=4)
  info = data_lib.dataset_info(dataset)
  net = networks.build_network(config.model, objective_lib.make_objective(
      config.model, 32, lambda: data_lib.training_sample(info.files['train'], 32)).num_bins, False)
  snapshots = []
  for number in (2, 3, 4):
    path = str(tmp_path / 'checkpoints' / f'ckpt-{number}')
    tf.train.Checkpoint(model=net.colorizer).restore(path).expect_partial()
    snapshots.append([w.numpy() for w in net.colorizer.weights])
  assert tf.train.load_checkpoint(path).get_tensor('swa_count/.ATTRIBUTES/VARIABLE_VALUE') == 3  # resumable
  exported, header = warm_start.read_weights(warm_start.weights_path(result.export_dir))  # float16
  assert header['weight_averaging'] == {'fraction': 0.5, 'snapshots': 3, 'first_step': 2, 'last_step': 4}
  mean = [np.mean(ws, axis=0) for ws in zip(*snapshots)]
  for got, want in zip(exported, mean):
    np.testing.assert_allclose(got.astype(np.float32), want, rtol=2e-3, atol=2e-4)
  # ... and not the last weights, at the same precision
  assert not all(np.allclose(got.astype(np.float32), last, rtol=2e-3, atol=2e-4)
                 for got, last in zip(exported, snapshots[-1]))
  # Both validation losses are on record: the last weights' at step 4 and the mean's.
  assert result.history['step'][-1] == 4 and np.isfinite(result.history['val_loss'][-1])
  assert np.isfinite(result.history['averaged_val_loss'][0])
  assert result.history['averaged_val_loss'][0] != result.history['val_loss'][-1]


def test_weight_averaging_window_and_validation():
  from trainer.loop import weight_averaging
  variables = [tf.Variable([1.0, 2.0]), tf.Variable(3, dtype=tf.int64)]  # integers are not averaged
  averaging = weight_averaging.WeightAverage(variables, fraction=0.3)
  assert not averaging.is_due(10, 0.6, epoch_end=True, last_step=False)  # before the last 30%
  assert averaging.is_due(12, 0.75, epoch_end=True, last_step=False)
  assert not averaging.is_due(13, 0.8, epoch_end=False, last_step=False)  # snapshots at epoch ends ...
  assert averaging.is_due(14, 0.9, epoch_end=False, last_step=True)  # ... and at the last step
  for value in ([1.0, 2.0], [3.0, 6.0]):
    variables[0].assign(value)
    averaging.add_snapshot(1)
  variables[0].assign([9.0, 9.0])
  assert averaging.apply() and variables[0].numpy().tolist() == [2.0, 4.0] and int(variables[1].numpy()) == 3
  assert not weight_averaging.WeightAverage(variables, fraction=0.0).is_due(1, 1.0, epoch_end=True, last_step=True)
  assert not weight_averaging.WeightAverage(variables, fraction=0.5).apply()  # no snapshot: weights untouched
  with pytest.raises(configs.ConfigError, match='training.averaging.fraction'):
    configs.load_config(overrides=['training.averaging.fraction=1.5'])
  with pytest.raises(configs.ConfigError, match='training.averaging.every_steps'):
    configs.load_config(overrides=['training.averaging.every_steps=-1'])
