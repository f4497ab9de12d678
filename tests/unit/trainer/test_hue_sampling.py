"""Repeat-factor sampling by hue (trainer/input/hue_sampling.py): which photos hold which hue sectors, the factors, the
TF twin of the rule, and the training input pipeline drawing each real record its factor's number of times."""

import collections

import numpy as np
import pytest
import tensorflow as tf

import configs
from tests.conftest import sample_photo_paths
from tests import trainer_datasets
from trainer.input import hue_sampling
from trainer.objective import metrics

CYAN = (-20.0, -12.0)      # hue 211 degrees (sector 3), chroma 23
YELLOW = (5.0, 30.0)       # hue 81 degrees (sector 1), chroma 30
PALE_CYAN = (-10.0, -6.0)  # sector 3 but chroma 12 < HUE_TRUE_CHROMA: not truly coloured
PURPLE = (30.0, -30.0)     # hue 315 degrees (sector 5)


def _photo(counts: dict, side: int = 10) -> np.ndarray:
  """A side x side ab photo, gray but for `counts[colour]` pixels of each colour."""
  ab = np.zeros((side * side, 2), np.float32)
  start = 0
  for colour, count in counts.items():
    ab[start:start + count] = colour
    start += count
  return ab.reshape(side, side, 2)


def test_a_photo_holds_a_sector_from_one_percent_of_its_truly_coloured_pixels():
  photo = _photo({CYAN: 1, PALE_CYAN: 60})  # 1 pixel of 100 is 1%; the pale ones do not count
  assert hue_sampling.sector_presence(photo).tolist() == [False, False, False, True, False, False]
  assert not hue_sampling.sector_presence(_photo({PALE_CYAN: 99})).any()
  # Padding is not part of the photo: purple under the mask is ignored, and the share is of the unpadded pixels.
  padded = _photo({CYAN: 1, PURPLE: 50})
  mask = np.ones((10, 10, 1), np.float32)
  mask.reshape(-1)[1:51] = 0.0
  assert hue_sampling.sector_presence(padded, mask).tolist() == [False, False, False, True, False, False]


def test_factors_follow_the_lvis_rule_and_the_plan_counts_a_pass():
  factors = hue_sampling.sector_repeat_factors(np.array([0.65, 0.0625, 0.0, 0.25, 1.0, 0.01]), threshold=0.25)
  np.testing.assert_allclose(factors, [1.0, 2.0, 1.0, 1.0, 1.0, 5.0])  # max(1, sqrt(t / f)); unheld sectors 1
  photos = [(_photo({CYAN: 5}), None), (_photo({YELLOW: 5}), None), (_photo({YELLOW: 5}), None),
            (_photo({YELLOW: 5, CYAN: 5}), None)]
  plan = hue_sampling.plan(photos, threshold=1.0)
  np.testing.assert_allclose(plan.frequencies, [0, 0.75, 0, 0.5, 0, 0])
  np.testing.assert_allclose(plan.sector_factors, [1, np.sqrt(1 / 0.75), 1, np.sqrt(2), 1, 1])
  # The photos' factors: cyan sqrt(2), yellow sqrt(4/3) twice, both -> the larger, sqrt(2).
  assert plan.mean_factor == pytest.approx((2 * np.sqrt(2) + 2 * np.sqrt(4 / 3)) / 4)
  with pytest.raises(ValueError, match='no photos'):
    hue_sampling.plan([], threshold=0.25)


def test_the_tf_rule_agrees_with_numpy_on_random_photos():
  rng = np.random.default_rng(0)
  factors = np.array([1.0, 1.3, 2.0, 2.7, 1.1, 3.5])
  for _ in range(25):
    # Blocks of random colours, some pale, on a random mask: every case of the rule shows up.
    blocks = rng.uniform(-40, 40, (4, 4, 2)) * rng.choice([0.2, 1.0], (4, 4, 1))
    ab = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1).astype(np.float32)
    mask = (rng.uniform(size=(32, 32, 1)) < 0.9).astype(np.float32)
    presence = hue_sampling.sector_presence(ab, mask)
    want = np.max(np.where(presence, factors, 1.0))
    got = float(hue_sampling.photo_repeat_factor_tf(tf.constant(ab), tf.constant(mask), factors.tolist()))
    assert got == pytest.approx(want)


def test_stochastic_rounding_keeps_the_expected_count():
  draws = [int(hue_sampling.stochastic_count(tf.constant(1.25))) for _ in range(2000)]
  assert set(draws) == {1, 2}
  assert np.mean(draws) == pytest.approx(1.25, abs=0.04)


def test_the_training_pipeline_draws_each_record_its_photos_factor(tmp_path_factory):
  """Real records of real photos: with integer factors every record appears exactly its factor's times per pass."""
  from trainer.input import data as data_lib
  from trainer import scaling
  dataset = trainer_datasets.build(tmp_path_factory, 'hue', sample_photo_paths(10), 32)
  info = data_lib.dataset_info(dataset)
  plain = next(iter(data_lib.make_dataset(info.files['train'], 32, 64, training=False)))
  keys = [l.numpy().tobytes() for l in plain[0]['l']]
  presence = np.array([hue_sampling.sector_presence(scaling.unscale_ab(ab.numpy()), mask.numpy())
                       for ab, mask in zip(plain[1]['ab'], plain[1]['mask'])])
  held = presence.sum(axis=0)
  sector = int(np.argmax((held > 0) & (held < len(keys))))  # a sector some photos hold and others do not
  assert 0 < held[sector] < len(keys)
  factors = [1.0] * metrics.HUE_SECTORS
  factors[sector] = 3.0
  resampled = data_lib.make_dataset(info.files['train'], 32, 1, training=True, repeat_factors=factors)
  seen = collections.Counter(features['l'][0].numpy().tobytes() for features, _ in resampled)
  assert sorted(seen) == sorted(keys)
  assert [seen[key] for key in keys] == [3 if presence[i, sector] else 1 for i in range(len(keys))]


def test_the_threshold_is_validated_and_a_run_records_its_factors(tmp_path_factory, tmp_path):
  from tests.unit.trainer.test_trainer import beta_config
  from trainer.input import data as data_lib
  from trainer.loop import warm_start
  from trainer import train as train_lib
  with pytest.raises(configs.ConfigError, match='training.sampling.hue_repeat_threshold'):
    configs.load_config(overrides=['training.sampling.hue_repeat_threshold=2'])
  dataset = trainer_datasets.build(tmp_path_factory, 'hue_run', sample_photo_paths(8), 32)
  result = train_lib.train(beta_config('training.sampling.hue_repeat_threshold=1.0'), dataset, str(tmp_path), max_steps=2)
  _, header = warm_start.read_weights(warm_start.weights_path(result.export_dir))
  info = data_lib.dataset_info(dataset)
  plan = data_lib.hue_repeat_plan(info.files['train'], info.image_size, 1.0)
  assert header['hue_repeat_sampling']['threshold'] == 1.0
  np.testing.assert_allclose(header['hue_repeat_sampling']['sector_factors'], plan.sector_factors, atol=1e-4)
  assert max(plan.sector_factors) > 1.0  # with t = 1 every sector fewer than all photos hold is repeated
