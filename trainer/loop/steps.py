"""The compiled steps of the loop: one train step per phase (frozen encoder, whole network) and the eval loss.

Losses are averaged over the *global* batch (`tf.nn.compute_average_loss`), so a step means the same under the
default, Mirrored and MultiWorkerMirrored strategies.
"""

from __future__ import annotations

import tensorflow as tf

from trainer.input import data as data_lib
from trainer.loop import plan as plan_lib
from trainer.loop import state as state_lib
from trainer.objective import losses
from trainer import scaling


def training_input(training, plan: plan_lib.RunPlan, strategy) -> tf.data.Dataset:
  """The distributed, repeated training batches (random tensors of the same shapes with `synthetic_input`)."""
  info = plan.info
  if training.synthetic_input:
    dataset = data_lib.synthetic_dataset(info.image_size, plan.global_batch, info.embedding_size)
  else:
    dataset = data_lib.make_dataset(
        info.files['train'], info.image_size, plan.global_batch, training=True,
        shuffle_buffer=training.sampling.shuffle_buffer, embedding_size=info.embedding_size, repeat=True,
        augment=training.sampling.online_augmentation, zoom_range=tuple(training.sampling.online_zoom_range),
        repeat_factors=plan.repeat_plan.sector_factors if plan.repeat_plan else None)
  return strategy.experimental_distribute_dataset(dataset)


class StepFunctions:
  """`embed` (the fusion variant's ImageNet features), `train_step[train_encoder]()` and `eval_loss(...)`."""

  def __init__(self, state: state_lib.TrainState, objective, strategy, plan: plan_lib.RunPlan, batches,
               xla: bool):
    self._state, self._objective, self._strategy = state, objective, strategy
    self._global_batch = plan.global_batch
    self._batches = iter(batches)
    jit = bool(xla and tf.config.list_physical_devices('GPU'))  # XLA is slower than plain TF on CPU
    self.train_step = {train_encoder: self._make_train_step(train_encoder, jit) for train_encoder in (False, True)}
    self.eval_loss = tf.function(self._eval_loss)

  def embed(self, features):
    """Adds the frozen embedder's features (fusion), unless there is none or the records carry them."""
    embedder = self._state.net.embedder
    if embedder is None or 'embedding' in features:
      return features
    rgb = scaling.gray_to_rgb_0_255(features['l'], embedder.input_size)
    return {**features, 'embedding': tf.stop_gradient(embedder(rgb))}

  def loss_of(self, features, targets, training_mode: bool):
    """Per-example loss of the colorizer's prediction at the targets' resolution."""
    prediction = self._state.net.colorizer(self.embed(features), training=training_mode)
    targets = losses.match_resolution(targets, prediction)
    return self._objective.loss_fn(targets['ab'], prediction, targets['mask'])

  def _replica_step(self, train_encoder: bool):
    state = self._state
    net = state.net

    def step_fn(batch):
      features, targets = batch
      variables = net.decoder_variables + (net.encoder_variables if train_encoder else [])
      with tf.GradientTape() as tape:
        loss = tf.nn.compute_average_loss(self.loss_of(features, targets, True),
                                          global_batch_size=self._global_batch)
        scaled = state.optimizer.scale_loss(loss) if hasattr(state.optimizer, 'scale_loss') else loss
      gradients = tape.gradient(scaled, variables)
      split = len(net.decoder_variables)
      state.optimizer.apply_gradients(zip(gradients[:split], net.decoder_variables))
      if train_encoder:
        state.encoder_optimizer.apply_gradients(zip(gradients[split:], net.encoder_variables))
      return loss
    return step_fn

  def _make_train_step(self, train_encoder: bool, jit: bool):
    step_fn = self._replica_step(train_encoder)

    @tf.function(jit_compile=jit)
    def train_step():
      per_replica = self._strategy.run(step_fn, args=(next(self._batches),))
      self._state.step.assign_add(1)
      return self._strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
    return train_step

  def _eval_loss(self, features, targets):
    per_example = self.loss_of(features, targets, False)
    return tf.reduce_sum(per_example), tf.cast(tf.shape(per_example)[0], tf.float32)
