"""The `unet` colorizer: its encoder is the pretrained EfficientNet-Lite0, the frozen phase freezes it, it
overfits one vivid photo to vivid colour (the alpha test), trains in bf16, and its SavedModel colorizes a photo at
full resolution in a fresh process."""

import io
import os
import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

import configs
from contracts import colorspace
from contracts import schema
from pipeline import build_dataset
from tests.conftest import REPO
from tests.conftest import sample_photo_paths
from trainer.input import data as data_lib
from trainer.networks import efficientnet_lite
from trainer.networks import embedders
from trainer.networks import unet
from trainer.objective import metrics
from trainer import train as train_lib


def _vivid_photo() -> str:
  """The most colourful bundled photo (Hasler-Suesstrunk colourfulness)."""
  return max(sample_photo_paths(), key=lambda p: metrics.colourfulness(np.asarray(Image.open(p).convert('RGB'))))


def _dataset(tmp_path_factory, photos, size, **overrides):
  folder = tmp_path_factory.mktemp('unet_photos')
  for i, path in enumerate(photos):
    shutil.copy(path, folder / f'{i:03d}_{os.path.basename(path)}')
  config = configs.load_config(overrides=[
      f'data.input_uri={folder}', f'data.output_dir={tmp_path_factory.mktemp("unet_ds")}',
      f'data.image_size={size}', 'data.augmentation.copies=0', 'data.photo_pool=thread'] +
      [f'{k}={v}' for k, v in overrides.items()])
  return build_dataset.run_build(config).version_dir


@pytest.fixture(scope='module')
def vivid_dataset(tmp_path_factory):
  return _dataset(tmp_path_factory, [_vivid_photo()], 64, **{'data.split_ratios': '{train: 1.0}',
                                                              'data.shards': '{train: 1}'})


def unet_config(*overrides):
  return configs.load_config(overrides=[
      'model.network.variant=unet',
      'training.warm_start_from=', 'model.network.decoder_filters=[32, 24, 16, 16]', 'model.network.fusion_channels=32',
      'training.batch_size_per_replica=4', 'training.checkpoint_every_steps=1000', 'training.runtime_exports=false',
      *overrides])


def test_the_encoder_is_the_pretrained_efficientnet_lite0():
  colorizer = unet.build_unet(unet_config().model)
  encoder = colorizer.get_layer(unet.ENCODER_NAME)
  standalone = efficientnet_lite.load_efficientnet_lite0(include_top=False)
  reference = keras.Model(standalone.input, [standalone.get_layer(name).output for _, name in unet.SKIP_LAYERS])
  rgb = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
  *features, embedding = encoder(rgb, training=False)
  expected = reference(efficientnet_lite.preprocess(rgb), training=False)
  for (stride, _), got, want in zip(unet.SKIP_LAYERS, features, expected):
    assert got.shape[1] == 64 // stride
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
  # The fused embedding is what the fusion variant's frozen embedder computes from the same pixels.
  embedder = embedders.load_embedder(unet_config().model)
  np.testing.assert_allclose(embedding, embedder(tf.constant(rgb)), atol=1e-4, rtol=1e-4)


def test_the_encoders_batch_norm_keeps_its_imagenet_statistics_while_training():
  colorizer = unet.build_unet(unet_config().model)
  encoder = colorizer.get_layer(unet.ENCODER_NAME)
  statistics = [v for v in encoder.non_trainable_variables if 'moving' in v.path]
  before = [v.numpy().copy() for v in statistics]
  colorizer({'l': tf.random.uniform([2, 64, 64, 1], -1.0, 1.0)}, training=True)
  assert statistics and all(np.array_equal(b, v.numpy()) for b, v in zip(before, statistics))
  assert not any('_bn' in v.path for v in unet.encoder_variables(colorizer))  # nor are its scales trained
  decoder_statistics = [v for v in colorizer.non_trainable_variables if 'decoder' in v.path and 'moving' in v.path]
  assert decoder_statistics  # the decoder's own batch norm does learn


def _weights_in_saved_model(export_dir):
  return [v.numpy() for v in tf.saved_model.load(export_dir).variables]


def _pretrained_encoder_weights():
  return [w for w in unet.build_encoder().trainable_weights]


def _found(weight, candidates):
  return any(c.shape == weight.shape and np.array_equal(c, weight) for c in candidates)


def test_frozen_phase_keeps_the_encoder_and_the_next_phase_trains_it(vivid_dataset, tmp_path):
  pretrained = [w.numpy() for w in _pretrained_encoder_weights()]
  frozen = train_lib.train(unet_config('training.schedule.frozen_encoder_fraction=0.99'), vivid_dataset,
                           str(tmp_path / 'frozen'), max_steps=3)
  saved = _weights_in_saved_model(frozen.export_dir)
  assert all(_found(w, saved) for w in pretrained)  # every encoder weight exactly as ImageNet left it
  decoder_kernel = [v for v in saved if v.shape == (3, 3, 16 + 16, 16)]  # decoder_2_a: up + stride-2 skip
  assert decoder_kernel  # and the decoder did train (its kernel is in the model; below: it moved)
  unfrozen = train_lib.train(unet_config('training.schedule.frozen_encoder_fraction=0.0', 'training.schedule.warmup_fraction=0.0'),
                             vivid_dataset, str(tmp_path / 'unfrozen'), max_steps=3)
  saved = _weights_in_saved_model(unfrozen.export_dir)
  changed = [w for w in pretrained if not _found(w, saved)]
  assert len(changed) > 0.9 * len(pretrained), (len(changed), len(pretrained))


def test_alpha_overfits_one_vivid_photo_and_colorizes_it_at_full_resolution(vivid_dataset, tmp_path):
  """The alpha test: one vivid photo, many steps -> its colours come back vivid and right, in a fresh process."""
  config = unet_config('training.schedule.frozen_encoder_fraction=0.0', 'training.schedule.warmup_fraction=0.0',
                       'training.schedule.decay=constant', 'training.optimizer.learning_rate=0.003',
                       'model.decoding.temperature_candidates=[]')
  result = train_lib.train(config, vivid_dataset, str(tmp_path), max_steps=200)
  assert result.history['loss'][-1] < 0.5 * result.history['loss'][0]
  info = data_lib.dataset_info(vivid_dataset)
  record = next(iter(tf.data.TFRecordDataset(info.files['train'], compression_type='GZIP')))
  truth = schema.decode_example_numpy(record.numpy())[schema.LAB]
  ab = tf.saved_model.load(result.export_dir).signatures['predict_ab'](l=tf.constant(truth[None, ..., :1]))
  report = metrics.evaluate([truth], [ab['ab'].numpy()[0]])
  print('alpha:', report)
  # A 64 px photo with colourfulness ~170 (gray: 0); ΔPSNR ~ +6 dB, every coloured pixel's hue right.
  assert report.colourfulness_ratio > 0.5 and report.hue_recall > 0.9 and report.delta_psnr > 3.0

  photo = _vivid_photo()
  script = textwrap.dedent(f"""
      import sys, tensorflow as tf
      model = tf.saved_model.load({result.export_dir!r})
      png = model.signatures['serving_default'](images=tf.constant([open({photo!r}, 'rb').read()]))['png']
      sys.stdout.buffer.write(png.numpy()[0])
  """)
  out = subprocess.run([sys.executable, '-c', script], capture_output=True, check=True, cwd=REPO, timeout=300)
  colorized = np.asarray(Image.open(io.BytesIO(out.stdout)).convert('RGB'))
  original = np.asarray(Image.open(photo).convert('RGB'))
  assert colorized.shape == original.shape  # full resolution, not the model's 64 px
  l_true = colorspace.rgb8_to_lab(original)[..., 0]
  l_error = np.abs(colorspace.rgb8_to_lab(colorized)[..., 0] - l_true).mean()
  # The photo's own full-resolution L (up to sRGB gamut clipping of the vivid colours), far closer than an L that
  # went through the model's 64 px and back.
  small = Image.fromarray(l_true.astype(np.float32)).resize((64, 64), Image.BOX)
  l_low_res = np.asarray(small.resize(l_true.shape[::-1], Image.BILINEAR))
  assert l_error < 2.0 and l_error < 0.5 * np.abs(l_low_res - l_true).mean(), (l_error, np.abs(l_low_res - l_true).mean())
  assert metrics.colourfulness(colorized) > 0.5 * metrics.colourfulness(original)


def test_bfloat16_training_has_finite_losses(vivid_dataset, tmp_path):
  config = unet_config('training.precision=mixed_bfloat16', 'model.decoding.temperature_candidates=[]')
  result = train_lib.train(config, vivid_dataset, str(tmp_path), max_steps=2)
  assert np.isfinite(result.history['loss']).all()
  assert keras.mixed_precision.global_policy().name == 'float32'  # restored for whatever runs next
