"""Stochastic weight averaging (SWA): the served colorizer is the mean of its weights over the end of the run.

The unet's runs stop improving on held-out photos long before their budget ends (the validation loss flattens,
then rises while the training loss keeps falling), and a longer run only fits the training photos' colours.
Izmailov et al. 2018 (SWA; `torch.optim.swa_utils`, TF Addons' `SWA`) average the weights a run visits near its
end instead of keeping the last: the mean lies in a flatter region of the loss that generalizes better than any of
the points averaged. The shipped colorizer is such a mean (its header's `weight_averaging`:
docs/shipped_colorizer.md).

Snapshots are taken at each epoch end (or every `training.averaging.every_steps`) once the run's progress
reaches 1 - `training.averaging.fraction`, and at the last step. Batch-norm moving statistics are averaged
with the weights: they are themselves running means over the same stretch of the run, which spares the extra
pass over the data that SWA's recomputation of the statistics would cost. The mean and the snapshot count live in
the training checkpoint, so a resumed run keeps the snapshots it had taken.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf


class WeightAverage:
  """The running mean of a model's floating-point weights (trainable and batch-norm statistics)."""

  def __init__(self, variables: Sequence[tf.Variable], fraction: float, every_steps: int = 0):
    """`fraction`: the final share of the run whose snapshots are averaged (0 = off: the last weights are kept);
    `every_steps`: steps between snapshots inside that share (0 = at each epoch end)."""
    self.fraction = fraction
    self.every_steps = every_steps
    self._sources = [v for v in variables if tf.as_dtype(v.dtype).is_floating]  # Keras 3 or tf.Variable
    # Outside any distribution strategy: one host copy, read from (and written back to) the model's variables
    # in cross-replica context, where a mirrored variable reads as its value and an assignment reaches every copy.
    with tf.init_scope():
      self.means = [tf.Variable(tf.zeros(v.shape, tf.as_dtype(v.dtype)), trainable=False, name='swa_mean') for v in self._sources]
      self.count = tf.Variable(0, dtype=tf.int64, trainable=False, name='swa_snapshots')
      self.first_step = tf.Variable(-1, dtype=tf.int64, trainable=False, name='swa_first_step')

  @property
  def enabled(self) -> bool:
    return self.fraction > 0

  @property
  def snapshots(self) -> int:
    return int(self.count.numpy())

  def trackables(self) -> dict[str, object]:
    """What the training checkpoint saves so that a resumed run keeps its snapshots."""
    return {'swa_means': self.means, 'swa_count': self.count, 'swa_first_step': self.first_step}

  def is_due(self, step: int, progress: float, epoch_end: bool, last_step: bool) -> bool:
    """Whether to take a snapshot after `step` at `progress` (0-1) of the run."""
    if not self.enabled or progress < 1.0 - self.fraction - 1e-9:
      return False
    if last_step:
      return True
    return step % self.every_steps == 0 if self.every_steps else epoch_end

  def add_snapshot(self, step: int) -> None:
    """Folds the model's current weights into the mean."""
    n = self.count + 1
    for mean, source in zip(self.means, self._sources):
      mean.assign_add((tf.convert_to_tensor(source) - mean) / tf.cast(n, mean.dtype))
    self.count.assign(n)
    if int(self.first_step.numpy()) < 0:
      self.first_step.assign(step)

  def apply(self) -> bool:
    """Writes the mean into the model's weights; False (nothing changed) before the first snapshot."""
    if not self.snapshots:
      return False
    for mean, source in zip(self.means, self._sources):
      source.assign(mean)
    return True

  def window(self, last_step: int) -> dict[str, float]:
    """What the exported weights' header records (`weight_averaging`)."""
    return {'fraction': self.fraction, 'snapshots': self.snapshots, 'first_step': int(self.first_step.numpy()),
            'last_step': last_step}


def describe(window: dict[str, float], averaged_loss: float | None, last_loss: float | None) -> str:
  """The log line: the window and both validation losses."""
  show = lambda loss: 'n/a' if loss is None else f'{loss:.5f}'
  return (f'weight averaging: the mean of {window["snapshots"]} snapshots from step {window["first_step"]} to '
          f'{window["last_step"]}; val_loss {show(averaged_loss)} (last weights: {show(last_loss)})')
