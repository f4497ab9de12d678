"""The trainer: shapes and losses, the "alpha version" overfit, export/reload in a fresh process, strategies,
kill-and-resume, and a worker that gives up when its peers never come."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import portpicker
import pytest
import tensorflow as tf

import configs
from pipeline import build_dataset
from tests.conftest import REPO
from tests.conftest import sample_photo_paths
from trainer import losses
from trainer import model as model_lib
from trainer import train as train_lib

PYTHON = sys.executable


def _build(tmp_path_factory, name, photos, size, **overrides):
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
  return _build(tmp_path_factory, 'one', [strawberry], 32)


@pytest.fixture(scope='module')
def small_dataset(tmp_path_factory):
  return _build(tmp_path_factory, 'small', sample_photo_paths(8), 32)


def beta_config(*overrides):
  return configs.load_config(overrides=['model.variant=beta', 'model.loss=mse', 'model.encoder_filters=[16, 32, 64]',
                                        'training.batch_size_per_replica=4', 'training.learning_rate=0.003',
                                        'training.checkpoint_every_steps=1000', *overrides])


def test_model_shapes_and_fusion_input():
  config = configs.load_config(overrides=['model.encoder_filters=[8, 16, 32]', 'model.fusion_channels=16'])
  fusion = model_lib.build_colorizer(config.model, embedding_size=5)
  out = fusion({'l': tf.zeros([2, 24, 40, 1]), 'embedding': tf.ones([2, 5])})
  assert out.shape == (2, 24, 40, 2)
  assert float(tf.reduce_max(tf.abs(out))) <= 1.0  # tanh: scaled ab
  config.model.variant = 'beta'
  beta = model_lib.build_colorizer(config.model)
  assert set(beta.input_names if hasattr(beta, 'input_names') else beta.input) != set()
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
  result = train_lib.train(config, one_photo_dataset, str(tmp_path), max_steps=500, export=True)
  first, last = result.history['loss'][0], result.history['loss'][-1]
  print(f'overfit: loss {first:.5f} -> {last:.5f}')
  assert last < 0.05 * first
  assert np.sqrt(last) * model_lib.AB_SCALE < 5.0  # RMS error below 5 ab units: "near zero"
  from contracts import schema
  from trainer import data as data_lib
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
  assert 'Unknown image file format' in report['bad']
  assert report['strip_diff'] <= 1
  # The reloaded tensor signature computes what the Keras model computes.
  colorizer = model_lib.build_colorizer(config.model)
  checkpoint = tf.train.Checkpoint(model=colorizer)
  checkpoint.restore(tf.train.latest_checkpoint(os.path.join(tmp_path, 'checkpoints'))).expect_partial()
  expected = model_lib.unscale_ab(colorizer({'l': model_lib.scale_l(tf.constant(l))}, training=False)).numpy()
  np.testing.assert_allclose(np.load(tmp_path / 'ab.npy'), expected, atol=1e-3)


def _train_command(dataset, output, *overrides, max_steps=4):
  return [PYTHON, '-m', 'trainer.task', f'--dataset={dataset}', f'--output={output}', f'--max_steps={max_steps}',
          '--set', 'model.variant=beta', '--set', 'model.encoder_filters=[16, 32, 64]',
          '--set', 'training.batch_size_per_replica=4'] + [a for o in overrides for a in ('--set', o)]


def test_mirrored_strategy_over_two_logical_cpus(small_dataset, tmp_path):
  run = subprocess.run(_train_command(small_dataset, tmp_path, 'training.cpu_devices=2'), capture_output=True,
                       text=True, cwd=REPO, timeout=300)
  assert run.returncode == 0, run.stderr[-2000:]
  assert 'replicas=2' in run.stdout and 'global_batch=8' in run.stdout
  assert os.path.exists(os.path.join(tmp_path, 'export', 'saved_model.pb'))


def test_killed_training_resumes_from_its_last_checkpoint(small_dataset, tmp_path):
  command = _train_command(small_dataset, tmp_path, 'training.checkpoint_every_steps=2', max_steps=400)
  process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  checkpoints = os.path.join(tmp_path, 'checkpoints')
  deadline = time.time() + 240
  def saved_steps():  # finished checkpoints only (TF writes `ckpt-N_temp/` first, then `ckpt-N.index`)
    names = os.listdir(checkpoints) if os.path.isdir(checkpoints) else []
    return [int(m.group(1)) for m in map(re.compile(r'ckpt-(\d+)\.index').fullmatch, names) if m]

  while time.time() < deadline and not any(step >= 4 for step in saved_steps()):
    time.sleep(0.5)
  process.send_signal(signal.SIGKILL)
  process.wait()
  last = tf.train.latest_checkpoint(checkpoints)
  assert last, 'no checkpoint before the kill'
  saved_step = int(last.rsplit('-', 1)[1])
  assert not os.path.exists(os.path.join(tmp_path, 'export'))
  run = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
  assert run.returncode == 0, run.stderr[-2000:]
  resumed = int(run.stdout.split('resumed from step ')[1].split(')')[0])
  assert resumed >= saved_step >= 4
  assert 'Trained 400 steps' in run.stdout


def _tf_config(ports, index):
  return json.dumps({'cluster': {'worker': [f'127.0.0.1:{p}' for p in ports]}, 'task': {'type': 'worker',
                                                                                      'index': index}})


def test_multi_worker_training_on_loopback(small_dataset, tmp_path):
  ports = [portpicker.pick_unused_port(), portpicker.pick_unused_port()]
  workers = []
  for index in range(2):
    env = dict(os.environ, TF_CONFIG=_tf_config(ports, index))
    workers.append(subprocess.Popen(_train_command(small_dataset, tmp_path / f'w{index}', max_steps=3),
                                    cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  try:
    outputs = [w.communicate(timeout=420) for w in workers]
  finally:
    for w in workers:
      if w.poll() is None:
        w.kill()
  for w, (out, err) in zip(workers, outputs):
    assert w.returncode == 0, err[-2000:]
    assert 'replicas=2' in out and 'global_batch=8' in out
  assert os.path.exists(tmp_path / 'w0' / 'export' / 'saved_model.pb')  # worker 0 is the chief
  assert not os.path.exists(tmp_path / 'w1' / 'export')               # only the chief exports


def test_a_worker_whose_peer_never_comes_gives_up(small_dataset, tmp_path):
  ports = [portpicker.pick_unused_port(), portpicker.pick_unused_port()]
  env = dict(os.environ, TF_CONFIG=_tf_config(ports, 0))
  start = time.time()
  run = subprocess.run(_train_command(small_dataset, tmp_path, 'training.worker_start_timeout_seconds=5'),
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
  assert run.returncode != 0
  assert run.returncode == -signal.SIGKILL
  assert 'did not come up within 5 s' in run.stderr
  assert time.time() - start < 200


def test_fusion_with_precomputed_embeddings_equal_to_in_graph(tmp_path_factory, tmp_path):
  """The dataset build's stored embeddings are what the trainer would compute in the graph from the record."""
  from contracts import schema
  from trainer import data as data_lib
  from trainer import embedders
  photos = sample_photo_paths(3)
  version = _build(tmp_path_factory, 'embedded', photos, 32, **{'data.precompute_embeddings': 'true',
                                                                 'model.variant': 'fusion'})
  info = data_lib.dataset_info(version)
  assert (info.embedding_name, info.embedding_size) == ('efficientnet_lite0', 1280)
  config = configs.load_config(overrides=['model.variant=fusion', 'model.encoder_filters=[8, 16, 32]',
                                          'model.fusion_channels=16', 'training.batch_size_per_replica=2'])
  embedder = embedders.load_embedder(config.model)
  for serialized in tf.data.TFRecordDataset(info.files['train'], compression_type='GZIP'):
    record = schema.decode_example_numpy(serialized.numpy())
    l_scaled = model_lib.scale_l(tf.constant(record['lab'][None, ..., :1]))
    in_graph = embedder(model_lib.gray_to_rgb_0_255(l_scaled, embedder.input_size)).numpy()[0]
    np.testing.assert_allclose(record['embedding'], in_graph, rtol=1e-3, atol=1e-3)
  # Training reads them from the records; the exported model computes them in its graph.
  result = train_lib.train(config, version, str(tmp_path), max_steps=2)
  loaded = tf.saved_model.load(result.export_dir)
  png = loaded.signatures['serving_default'](images=tf.constant([open(photos[0], 'rb').read()]))['png']
  assert png.shape == (1,)


def test_classification_loss_trains_and_exports_annealed_mean(small_dataset, tmp_path):
  """Zhang et al.'s loss end to end: bins + rebalancing stored with the model, annealed mean in the graph."""
  from trainer import color_bins
  config = beta_config('model.loss=classification')
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


def test_vertex_cluster_spec_becomes_tf_config(monkeypatch):
  from trainer import distribute
  monkeypatch.setenv('TF_CONFIG', '')  # recorded, so the TF_CONFIG written below is removed after the test
  monkeypatch.setenv('CLUSTER_SPEC', json.dumps({
      'cluster': {'workerpool0': ['cmle-training-workerpool0-ab:2222'],
                  'workerpool1': ['cmle-training-workerpool1-ab-0:2222', 'cmle-training-workerpool1-ab-1:2222']},
      'task': {'type': 'workerpool1', 'index': 1}}))
  tf_config = distribute.cluster_from_environment()
  assert tf_config['cluster']['chief'] == ['cmle-training-workerpool0-ab:2222']
  assert len(tf_config['cluster']['worker']) == 2
  assert tf_config['task'] == {'type': 'worker', 'index': 1}
  assert json.loads(os.environ['TF_CONFIG']) == tf_config  # what MultiWorkerMirroredStrategy reads
  assert not distribute.is_chief(tf_config)
  assert distribute.is_chief({'cluster': tf_config['cluster'], 'task': {'type': 'chief', 'index': 0}})


def test_online_augmentation_flips_l_ab_and_mask_together(small_dataset):
  from trainer import data as data_lib
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
  from trainer import embedders
  for name in ('efficientnet_lite0', 'inception_resnet_v2'):
    config = configs.load_config(overrides=[f'model.embedder={name}',
                                            f'model.embedder_weights={tmp_path}/missing.weights.h5'])
    with pytest.raises(FileNotFoundError, match='missing.weights.h5'):
      embedders.load_embedder(config.model)


def test_tfx_run_fn_contract(small_dataset, tmp_path):
  """TFX's FnArgs in, SavedModel in serving_model_dir and logs in model_run_dir out."""
  from tfx.components.trainer import fn_args_utils
  from contracts import schema
  config = beta_config()
  fn_args = fn_args_utils.FnArgs(
      working_dir=str(tmp_path / 'work'),
      train_files=[os.path.join(small_dataset, schema.split_file_pattern('train'))],
      eval_files=[], train_steps=2, serving_model_dir=str(tmp_path / 'model' / 'Format-Serving'),
      model_run_dir=str(tmp_path / 'model_run'), custom_config={'config': configs.to_dict(config)})
  train_lib.run_fn(fn_args)
  assert os.path.exists(tmp_path / 'model' / 'Format-Serving' / 'saved_model.pb')
  assert any(name.startswith('events.out.tfevents') for name in os.listdir(tmp_path / 'model_run' / 'train'))
