"""Learning-rate schedule, the frozen-encoder phase, the precision policy, the decoding criterion and weight decay."""

import math

import pytest

import configs
from trainer.loop import schedule
from trainer.objective import decoding


def test_warm_up_then_cosine_to_zero():
  training = configs.load_config(overrides=['training.optimizer.learning_rate=0.01', 'training.schedule.warmup_fraction=0.1',
                                            'training.schedule.decay=cosine']).training
  assert schedule.learning_rate(training, 0.0) == 0.0
  assert schedule.learning_rate(training, 0.05) == pytest.approx(0.005)
  assert schedule.learning_rate(training, 0.1) == pytest.approx(0.01)
  assert schedule.learning_rate(training, 0.55) == pytest.approx(0.005)
  assert schedule.learning_rate(training, 1.0) == pytest.approx(0.0, abs=1e-12)
  training.schedule.decay = 'constant'
  assert schedule.learning_rate(training, 0.9) == 0.01


def test_weight_averaging_rate_ends_the_decay_and_holds_through_the_window():
  """SWALR: the cosine reaches the averaging rate where the window starts (progress 0.7) and stays there; without
  that rate, averaging leaves the schedule as it was."""
  training = configs.load_config(overrides=[
      'training.optimizer.learning_rate=0.01', 'training.schedule.warmup_fraction=0.1', 'training.schedule.decay=cosine',
      'training.averaging.fraction=0.3', 'training.averaging.learning_rate=0.002']).training
  assert schedule.learning_rate(training, 0.1) == pytest.approx(0.01)
  assert schedule.learning_rate(training, 0.4) == pytest.approx(0.006)  # halfway down from 0.01 to 0.002
  assert schedule.learning_rate(training, 0.7) == schedule.learning_rate(training, 1.0) == 0.002
  training.averaging.learning_rate = 0.0
  assert schedule.learning_rate(training, 0.55) == pytest.approx(0.005)
  assert schedule.learning_rate(training, 1.0) == pytest.approx(0.0, abs=1e-12)
  with pytest.raises(configs.ConfigError, match='training.averaging.learning_rate'):
    configs.load_config(overrides=['training.averaging.learning_rate=-1'])


def test_encoder_frozen_for_the_first_fraction():
  training = configs.load_config(overrides=['training.schedule.frozen_encoder_fraction=0.3']).training
  assert schedule.encoder_frozen(training, 0.0) and schedule.encoder_frozen(training, 0.29)
  assert not schedule.encoder_frozen(training, 0.3)


def test_precision_auto_is_float32_on_this_cpu():
  # bf16 measured 4-10x slower than float32 on CPU (no fast bf16 kernels for depthwise convolutions): not the default.
  assert schedule.resolve_precision(configs.load_config().training) == 'float32'
  training = configs.load_config(overrides=['training.precision=mixed_bfloat16']).training
  assert schedule.resolve_precision(training) == 'mixed_bfloat16'


def test_decoding_criterion():
  table = [{'temperature': 0.2, 'prior_correction': 1.0, 'delta_psnr': -0.5, 'hue_recall': 0.6},
           {'temperature': 0.38, 'prior_correction': 0.5, 'delta_psnr': 0.1, 'hue_recall': 0.4},
           {'temperature': 0.7, 'prior_correction': 0.0, 'delta_psnr': 0.3, 'hue_recall': 0.3}]
  assert decoding.pick(table) is table[1]  # the best hue recall that costs no PSNR against gray
  for row in table:
    row['delta_psnr'] -= 1.0
  assert decoding.pick(table) is table[2]  # none reaches ΔPSNR 0: the least fidelity lost
  assert decoding.pick(table, max_psnr_cost=1.0) is table[1]  # allowed to cost up to 1 dB
  table[1]['hue_recall'], table[2]['hue_recall'] = 0.1, math.nan
  assert decoding.pick(table, max_psnr_cost=1.0) is table[1]  # a NaN is never chosen over a number
  table[2]['delta_psnr'] = math.nan
  assert decoding.pick(table) is table[1]
  # Hue recalls within the tolerance of the best are a tie that the better ΔPSNR wins.
  table = [{'chroma_gain': 0.8, 'delta_psnr': 0.3, 'hue_recall': 0.428},
           {'chroma_gain': 0.85, 'delta_psnr': 0.1, 'hue_recall': 0.432},
           {'chroma_gain': 1.2, 'delta_psnr': -2.0, 'hue_recall': 0.446}]
  assert decoding.pick(table) is table[1]
  assert decoding.pick(table, hue_tolerance=0.01) is table[0]
  assert decoding.pick(table, max_psnr_cost=3.0, hue_tolerance=0.01) is table[2]  # 0.018 better: not a tie
  assert decoding.pick(table, max_psnr_cost=3.0, hue_tolerance=0.02) is table[0]


def test_weight_decay_shrinks_kernels_by_rate_times_decay_and_spares_biases_and_norms():
  """`training.optimizer.weight_decay` is AdamW's decoupled decay: with zero gradients a step moves a kernel by exactly
  rate x decay x itself, and leaves biases and batch-norm scales and offsets alone; 0 is plain Adam."""
  import keras  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from trainer.networks import builder as networks  # pylint: disable=g-import-not-at-top
  dense, norm = keras.layers.Dense(3, bias_initializer='ones'), keras.layers.BatchNormalization()
  dense.build((None, 2))
  norm.build((None, 3))
  norm.beta.assign(np.ones(3))
  variables = dense.trainable_variables + norm.trainable_variables
  before = [v.numpy().copy() for v in variables]
  optimizer = networks.optimizer('float32', configs.load_config(overrides=[
      'training.optimizer.learning_rate=0.1', 'training.optimizer.weight_decay=0.5']).training)
  optimizer.apply_gradients([(np.zeros(v.shape, 'float32'), v) for v in variables])
  after = dict(zip([v.path for v in variables], [v.numpy() for v in variables]))
  np.testing.assert_allclose(after[dense.kernel.path], before[0] * (1 - 0.1 * 0.5), rtol=1e-6)
  for variable, value in zip(variables[1:], before[1:]):
    np.testing.assert_array_equal(after[variable.path], value)
  plain = networks.optimizer('float32', configs.load_config(overrides=['training.optimizer.weight_decay=0']).training)
  assert not plain.weight_decay
