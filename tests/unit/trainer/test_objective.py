"""`classification+l1_chroma`: one decoder, two heads (bins and ab), one loss, and the per-pixel decoding."""

import json

import numpy as np
import pytest
import tensorflow as tf

import configs
from tests.conftest import sample_photo_paths
from tests.conftest import SMALL_MODEL
from tests import trainer_datasets
from trainer.objective import color_bins
from trainer.objective import losses
from trainer.objective import objective as objective_lib
from trainer import scaling
from trainer import train as train_lib

GREEN = (-40.0, 40.0)


def _index(centers, ab):
  return int(np.flatnonzero((centers == np.asarray(ab, np.float32)).all(-1))[0])


def test_two_head_loss_is_the_cross_entropy_plus_the_weighted_regression_loss():
  centers = color_bins.ab_bin_centers()
  weights = np.ones(len(centers), np.float32)
  rng = np.random.default_rng(0)
  ab_true = tf.constant(rng.uniform(-0.4, 0.4, (2, 4, 4, 2)), tf.float32)
  output = tf.constant(rng.normal(size=(2, 4, 4, len(centers) + 2)), tf.float32)
  mask = tf.ones((2, 4, 4, 1))
  classification = lambda a, o, m: color_bins.classification_loss(a, o, m, weights=weights, centers=centers)
  total = objective_lib.two_head_loss(ab_true, output, mask, classification_loss=classification,
                                      regression_loss=losses.masked_l1_chroma, num_bins=len(centers),
                                      regression_weight=10.0)
  expected = (classification(ab_true, output[..., :len(centers)], mask)
              + 10.0 * losses.masked_l1_chroma(ab_true, output[..., len(centers):], mask))
  np.testing.assert_allclose(total.numpy(), expected.numpy(), rtol=1e-6)


def test_each_pixel_is_served_the_more_saturated_head():
  """Pixel 0: the bins say green (chroma 57), the regression head a faint red -> green. Pixel 1: the bins say
  gray, the regression head blue -> blue."""
  centers = color_bins.ab_bin_centers()
  logits = np.full((1, 1, 2, len(centers)), -30.0, np.float32)
  logits[0, 0, 0, _index(centers, GREEN)] = 30.0
  logits[0, 0, 1, _index(centers, (0.0, 0.0))] = 30.0
  regressed = scaling.scale_ab(np.array([[[[10.0, 5.0], [10.0, -50.0]]]], np.float32))
  output = tf.constant(np.concatenate([logits, regressed], -1))
  decode = objective_lib._bins_decoder(np.ones(len(centers)), 1.0, 0.0, image_size=2,  # pylint: disable=protected-access
                                       regression_head=True)
  ab = decode(output).numpy()[0, 0]
  np.testing.assert_allclose(ab[0], GREEN, atol=0.5)
  np.testing.assert_allclose(ab[1], (10.0, -50.0), atol=0.5)
  classification_only = objective_lib._bins_decoder(np.ones(len(centers)), 1.0, 0.0, 2)  # pylint: disable=protected-access
  np.testing.assert_allclose(classification_only(output[..., :len(centers)]).numpy()[0, 0, 1], (0, 0), atol=0.5)


def test_rebalanced_regression_scales_each_pixel_by_its_true_colours_weight():
  """`model.loss.regression_rebalancing`: pixel i's L1 (+ chroma term) counts w(bin of its true ab)^strength times,
  the mean still over the valid pixels; a gray and a green pixel with the same error weigh differently."""
  centers = color_bins.ab_bin_centers()
  gray, green = _index(centers, (0.0, 0.0)), _index(centers, GREEN)
  histogram = np.ones(len(centers))
  histogram[gray] = 10_000  # photos are mostly gray-brown
  config = configs.ModelConfig(loss=configs.LossConfig(kind='l1_chroma', regression_rebalancing=1.0))
  weights = color_bins.rebalancing_weights(histogram, lam=config.loss.rebalance_lambda)
  ab_true = scaling.scale_ab(np.array([[[[0.0, 0.0], GREEN, GREEN]]], np.float32))
  ab_pred = ab_true + 0.1  # the same error everywhere
  mask = np.array([[[[1.0], [1.0], [0.0]]]], np.float32)  # the third pixel is padding
  loss = objective_lib._regression_loss(config, histogram)  # pylint: disable=protected-access
  plain = losses.regression_loss(config)
  per_pixel = [float(plain(ab_true[:, :, i:i + 1], ab_pred[:, :, i:i + 1], mask[:, :, :1])[0]) for i in range(2)]
  expected = (weights[gray] * per_pixel[0] + weights[green] * per_pixel[1]) / 2
  assert float(loss(ab_true, ab_pred, mask)[0]) == pytest.approx(expected, rel=1e-5)
  assert weights[green] > 10 * weights[gray]
  plain_config = configs.ModelConfig(loss=configs.LossConfig(kind='l1_chroma'))
  unbalanced = objective_lib._regression_loss(plain_config, histogram)  # pylint: disable=protected-access
  assert float(unbalanced(ab_true, ab_pred, mask)[0]) == pytest.approx(sum(per_pixel) / 2, rel=1e-5)


def test_regression_rebalancing_is_refused_outside_0_to_1():
  with pytest.raises(configs.ConfigError, match='model.loss.regression_rebalancing'):
    configs.load_config(overrides=['model.loss.regression_rebalancing=1.5'])


@pytest.fixture(scope='module')
def split_dataset(tmp_path_factory):
  """Train and eval splits: the decoding is chosen on the eval split."""
  return trainer_datasets.build(tmp_path_factory, 'split', sample_photo_paths(10), 32,
                                **{'data.split_ratios': '{train: 0.6, eval: 0.4}',
                                   'data.shards': '{train: 1, eval: 1}'})


def test_two_heads_train_choose_their_decoding_and_export(split_dataset, tmp_path):
  config = configs.load_config(overrides=[
      *SMALL_MODEL, 'model.loss.kind=classification+l1_chroma', 'training.checkpoint_every_steps=1000',
      'model.decoding.temperature_candidates=[0.38, 1.0]', 'model.decoding.prior_correction_candidates=[0.0]',
      'model.decoding.max_psnr_cost=100'])
  result = train_lib.train(config, split_dataset, str(tmp_path), max_steps=4)
  stored = json.loads((tmp_path / 'color_bins.json').read_text())
  assert stored['regression_head'] is True and len(stored['temperature_search']) == 2
  assert np.isfinite(result.history['loss']).all()
  predict = tf.saved_model.load(result.export_dir).signatures['predict_ab']
  assert predict(l=tf.fill([1, 32, 32, 1], 50.0))['ab'].shape == (1, 32, 32, 2)


def test_rebalanced_regression_trains_and_exports(split_dataset, tmp_path):
  config = configs.load_config(overrides=[
      *SMALL_MODEL, 'model.loss.kind=l1_chroma', 'model.loss.regression_rebalancing=0.5', 'training.checkpoint_every_steps=1000'])
  result = train_lib.train(config, split_dataset, str(tmp_path), max_steps=3)
  assert np.isfinite(result.history['loss']).all()
  assert not (tmp_path / 'color_bins.json').exists()  # regression: nothing to decode
  predict = tf.saved_model.load(result.export_dir).signatures['predict_ab']
  assert predict(l=tf.fill([1, 32, 32, 1], 50.0))['ab'].shape == (1, 32, 32, 2)


def test_a_regression_serves_the_chroma_gain_chosen_on_the_eval_split(split_dataset, tmp_path):
  """The gain search is recorded in decoding.json with the bins' criterion, and the exported graph serves the
  network's ab times the chosen gain: the same checkpoint exported with gain 1 and with gain 0.5 differs by 0.5x."""
  from trainer.objective import decoding
  overrides = [*SMALL_MODEL, 'model.loss.kind=l1_chroma', 'training.checkpoint_every_steps=1000',
               'training.optimizer.learning_rate=0.003']  # 3 steps at local.yaml's fine-tuning rate leave ab near 0
  searched = configs.load_config(overrides=overrides + ['model.decoding.chroma_gain_candidates=[0.5, 1.0, 1.5]',
                                                        'model.decoding.max_psnr_cost=100'])
  train_lib.train(searched, split_dataset, str(tmp_path), max_steps=3, export_dir=str(tmp_path / 'searched'))
  stored = json.loads((tmp_path / 'decoding.json').read_text())
  assert [row['chroma_gain'] for row in stored['search']] == [0.5, 1.0, 1.5]
  assert stored['chroma_gain'] == decoding.pick(stored['search'], 100,
                                                searched.model.decoding.hue_tolerance)['chroma_gain']
  exports = {}
  for gain in (1.0, 0.5):  # restores the checkpoint, runs no step, "chooses" the only candidate, exports
    config = configs.load_config(overrides=overrides + [f'model.decoding.chroma_gain_candidates=[{gain}]'])
    result = train_lib.train(config, split_dataset, str(tmp_path), max_steps=3, export_dir=str(tmp_path / str(gain)))
    assert json.loads((tmp_path / 'decoding.json').read_text())['chroma_gain'] == gain
    exports[gain] = tf.saved_model.load(result.export_dir).signatures['predict_ab']
  l = tf.constant(np.random.default_rng(0).uniform(0, 100, (1, 32, 32, 1)), tf.float32)
  full, half = (exports[g](l=l)['ab'].numpy() for g in (1.0, 0.5))
  assert np.abs(full).max() > 1.0  # the network colours something, so the gain is visible
  np.testing.assert_allclose(half, 0.5 * full, atol=1e-3)


def test_flip_averaging_serves_the_mirror_combination_and_chooses_the_decoding_on_it(split_dataset, tmp_path):
  """`model.decoding.flip_averaging`: the served ab combines the network's ab for the photo and, mirrored back, for its
  mirror image (so a mirrored photo gets exactly the mirrored colours): `flip_averaging: mean` serves the
  mean vector, `keep_chroma` that vector's hue at the mean of the two chromas; the decoding search scores
  the combination as served."""
  overrides = [*SMALL_MODEL, 'model.loss.kind=l1_chroma', 'training.checkpoint_every_steps=1000', 'training.optimizer.learning_rate=0.003',
               'model.decoding.chroma_gain_candidates=[1.0]']
  modes = {'plain': ['model.decoding.flip_averaging=off'],
           'mean': ['model.decoding.flip_averaging=mean'],
           'keep': ['model.decoding.flip_averaging=keep_chroma']}
  served, searched = {}, {}
  for mode, flip in modes.items():  # later runs restore the first's checkpoint and run no step
    config = configs.load_config(overrides=overrides + flip)
    result = train_lib.train(config, split_dataset, str(tmp_path), max_steps=3, export_dir=str(tmp_path / mode))
    served[mode] = tf.saved_model.load(result.export_dir).signatures['predict_ab']
    searched[mode] = json.loads((tmp_path / 'decoding.json').read_text())['search'][0]['delta_psnr']
  l = tf.constant(np.random.default_rng(0).uniform(0, 100, (2, 32, 32, 1)), tf.float32)
  mirror = lambda x: np.asarray(x)[:, :, ::-1]
  plain, plain_mirrored = served['plain'](l=l)['ab'].numpy(), mirror(served['plain'](l=mirror(l).copy())['ab'])
  assert np.abs(plain - plain_mirrored).max() > 0.5  # the network alone is not mirror-symmetric
  mean = 0.5 * (plain + plain_mirrored)
  chroma = lambda ab: np.linalg.norm(ab, axis=-1, keepdims=True)
  expected = {'mean': mean, 'keep': mean / chroma(mean) * 0.5 * (chroma(plain) + chroma(plain_mirrored))}
  for mode in ('mean', 'keep'):
    combined = served[mode](l=l)['ab'].numpy()
    np.testing.assert_allclose(combined, expected[mode], atol=2e-3)
    np.testing.assert_allclose(served[mode](l=mirror(l).copy())['ab'].numpy(), mirror(combined), atol=2e-3)
  grayed = chroma(expected['keep']) - chroma(mean)  # >= 0: a mean vector is never longer than the mean length
  assert grayed.min() > -1e-4 and grayed.max() > 1e-3  # where the two disagree on the hue, `keep` stays saturated
  assert len({searched['plain'], searched['mean'], searched['keep']}) == 3  # the search saw what is served
