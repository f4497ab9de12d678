"""The run's trainable state: network, optimizers, step counter, weight averaging and their checkpoint, restored
from the newest readable checkpoint (a resumed run) or else warm-started from `training.warm_start_from`."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

import tensorflow as tf

from trainer.loop import checkpoints
from trainer.loop import plan as plan_lib
from trainer.loop import schedule
from trainer.loop import warm_start
from trainer.loop import weight_averaging
from trainer.networks import builder as networks

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainState:
  """Everything a checkpoint holds, and where it goes."""
  net: networks.Network
  optimizer: Any
  encoder_optimizer: Any  # the pretrained encoder's (unet), None without one
  step: tf.Variable
  averaging: weight_averaging.WeightAverage
  manager: tf.train.CheckpointManager
  resumed_from: int       # the step the run starts at (0: a fresh run)


def _task_dir(path: str, plan: plan_lib.RunPlan) -> str:
  """Non-chief workers write their (required) checkpoint copies to a private folder."""
  if plan.chief or not plan.tf_config:
    return path
  task = plan.tf_config['task']
  return os.path.join(path, f'workertemp_{task["type"]}_{task["index"]}')


def build_state(config, strategy, policy: str, objective, plan: plan_lib.RunPlan, output_dir: str) -> TrainState:
  """Builds the state inside the strategy's scope, then restores or warm-starts it."""
  training = config.training
  with strategy.scope():
    net = networks.build_network(config.model, objective.num_bins, objective.regression_head,
                                 schedule.decoder_conv_policy(training))
    optimizer = networks.optimizer(policy, training)
    optimizer.build(net.decoder_variables)
    encoder_optimizer = None
    if net.encoder_variables:
      encoder_optimizer = networks.optimizer(policy, training, training.optimizer.encoder_learning_rate_multiplier)
      encoder_optimizer.build(net.encoder_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
  averaging = weight_averaging.WeightAverage(net.colorizer.weights, training.averaging.fraction,
                                             training.averaging.every_steps)
  with strategy.scope():
    checkpoint = tf.train.Checkpoint(model=net.colorizer, optimizer=optimizer, step=step,
                                     **({'encoder_optimizer': encoder_optimizer} if encoder_optimizer else {}),
                                     **(averaging.trackables() if averaging.enabled else {}))
  manager = tf.train.CheckpointManager(checkpoint, _task_dir(os.path.join(output_dir, 'checkpoints'), plan),
                                       max_to_keep=3)
  restored = checkpoints.restore_latest_intact(checkpoint, manager) if manager.checkpoints else None
  if restored:
    _LOG.info('Resumed from %s at step %d', restored, int(step.numpy()))
  elif training.warm_start_from:
    source = warm_start.load_weights(net.colorizer, training.warm_start_from, config.model)
    print(f'warm start: {source["path"]} ({source.get("steps", "?")} steps of {source.get("variant")}/'
          f'{source.get("loss")} on {source.get("trained_on", "?")})', flush=True)
  return TrainState(net, optimizer, encoder_optimizer, step, averaging, manager, int(step.numpy()))
