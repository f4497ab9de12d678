"""Distributed training of the colorizer: a custom loop that works under every tf.distribute strategy.

Keras 3 `model.fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585), so one loop serves the
default, Mirrored and MultiWorkerMirrored strategies: `strategy.run` + GradientTape + losses averaged over the
*global* batch. Fault tolerance: a checkpoint every `training.checkpoint_every_steps` steps and at each epoch end;
a process started again with the same arguments resumes from the latest one (the role Keras' BackupAndRestore
plays for `fit`). Only the chief writes summaries and the exported model.

The command-line task (also the Vertex AI custom-job entry point) is `trainer.task`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainResult:
  """What a training run produced."""
  export_dir: str | None
  steps: int
  history: dict[str, list[float]]
  examples_per_second: float  # training steps only, after the first two (tracing)
  resumed_from_step: int


def _task_dir(path: str, tf_config: dict[str, Any] | None, chief: bool) -> str:
  """Non-chief workers write their (required) checkpoint copies to a private folder."""
  if chief or not tf_config:
    return path
  task = tf_config['task']
  return os.path.join(path, f'workertemp_{task["type"]}_{task["index"]}')


def train(config, dataset_path: str, output_dir: str, *, log_dir: str | None = None,
          max_steps: int | None = None, export: bool = True, time_budget_seconds: float | None = None,
          export_dir: str | None = None, start_export_dir: str | None = None) -> TrainResult:
  """Trains on the dataset version at (or LATEST under) `dataset_path`; exports to `<output_dir>/export`.

  Args:
    config: The PipelineConfig (model, training; data is read from the dataset manifest).
    dataset_path: A dataset version folder or a folder whose LATEST names one.
    output_dir: Checkpoints go to `<output_dir>/checkpoints`, the SavedModel to `<output_dir>/export`.
    log_dir: TensorBoard logs (default `<output_dir>/logs`).
    export_dir: Where the SavedModel goes (default `<output_dir>/export`).
    start_export_dir: With `training.warm_start_from`: also export the starting model here (the candidate's
      baseline in the gate: `contracts/model_artifact.py`).
    max_steps: Stop after this many steps in total (tests, benchmarks); default epochs x steps per epoch.
    export: Write the SavedModel (chief only).
    time_budget_seconds: Stop (with a final evaluation, checkpoint and export) once training took this long
      (default: `training.time_budget_seconds`, 0 = none). Single-worker runs only: workers would disagree on
      the last step.
  """
  from trainer import distribute  # pylint: disable=g-import-not-at-top
  strategy = distribute.choose_strategy(config.training)  # before any other TF op
  import keras  # pylint: disable=g-import-not-at-top
  from trainer import schedule  # pylint: disable=g-import-not-at-top
  previous_policy = keras.mixed_precision.global_policy()
  policy = schedule.resolve_precision(config.training)
  keras.mixed_precision.set_global_policy(policy)
  try:
    return _train(config, strategy, policy, dataset_path, output_dir, log_dir=log_dir, max_steps=max_steps,
                  export=export, time_budget_seconds=time_budget_seconds, export_dir=export_dir,
                  start_export_dir=start_export_dir)
  finally:
    keras.mixed_precision.set_global_policy(previous_policy)


def _train(config, strategy, policy, dataset_path, output_dir, *, log_dir, max_steps, export, time_budget_seconds,
           export_dir, start_export_dir) -> TrainResult:
  """The loop of `train` under the chosen strategy and precision policy."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from trainer import checkpoints  # pylint: disable=g-import-not-at-top
  from trainer import data as data_lib  # pylint: disable=g-import-not-at-top
  from trainer import distribute  # pylint: disable=g-import-not-at-top
  from trainer import finish  # pylint: disable=g-import-not-at-top
  from trainer import losses  # pylint: disable=g-import-not-at-top
  from trainer import model as model_lib  # pylint: disable=g-import-not-at-top
  from trainer import networks  # pylint: disable=g-import-not-at-top
  from trainer import objective as objective_lib  # pylint: disable=g-import-not-at-top
  from trainer import schedule  # pylint: disable=g-import-not-at-top
  from trainer import summaries  # pylint: disable=g-import-not-at-top
  from trainer import warm_start  # pylint: disable=g-import-not-at-top
  from trainer import weight_averaging  # pylint: disable=g-import-not-at-top

  tf_config = distribute.cluster_from_environment()
  chief = distribute.is_chief(tf_config)
  training, model_config = config.training, config.model
  time_budget_seconds = time_budget_seconds or training.time_budget_seconds or None
  if time_budget_seconds and distribute.worker_count(tf_config) > 1:
    raise ValueError(f'training.time_budget_seconds={time_budget_seconds}: a time budget is for single-worker '
                     'runs (each worker would stop at a different step); set 0 and use training.epochs')

  info = data_lib.dataset_info(dataset_path)
  if info.embedding_size and (model_config.variant != 'fusion' or info.embedding_name != model_config.embedder):
    _LOG.warning('Ignoring the records\' precomputed %s embeddings (model: %s/%s)', info.embedding_name,
                 model_config.variant, model_config.embedder)
    info = dataclasses.replace(info, embedding_size=0)
  replicas = strategy.num_replicas_in_sync
  global_batch = training.batch_size_per_replica * replicas
  repeat_plan = None if training.synthetic_input else data_lib.training_repeat_plan(info, training)
  passes = repeat_plan.mean_factor if repeat_plan else 1.0  # an epoch is a pass over the resampled photos
  steps_per_epoch = max(1, int(info.examples.get('train', 0) * passes) // global_batch)
  total_steps = training.epochs * steps_per_epoch if max_steps is None else max_steps
  print(f'strategy={type(strategy).__name__} replicas={replicas} global_batch={global_batch} '
        f'steps={total_steps} image_size={info.image_size} variant={model_config.variant} '
        f'loss={model_config.loss} precision={policy} chief={chief}', flush=True)

  objective = objective_lib.make_objective(model_config, info, info.image_size)
  with strategy.scope():
    net = networks.build_network(model_config, objective.num_bins, objective.regression_head,
                                 schedule.decoder_conv_policy(training))
    optimizer = networks.optimizer(policy, training)
    optimizer.build(net.decoder_variables)
    encoder_optimizer = None
    if net.encoder_variables:
      encoder_optimizer = networks.optimizer(policy, training, training.encoder_learning_rate_multiplier)
      encoder_optimizer.build(net.encoder_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
  averaging = weight_averaging.WeightAverage(net.colorizer.weights, training.weight_averaging_fraction,
                                             training.weight_averaging_every_steps)
  with strategy.scope():
    checkpoint = tf.train.Checkpoint(model=net.colorizer, optimizer=optimizer, step=step,
                                     **({'encoder_optimizer': encoder_optimizer} if encoder_optimizer else {}),
                                     **(averaging.trackables() if averaging.enabled else {}))
  colorizer, embedder = net.colorizer, net.embedder

  checkpoint_dir = _task_dir(os.path.join(output_dir, 'checkpoints'), tf_config, chief)
  manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir, max_to_keep=3)
  restored = checkpoints.restore_latest_intact(checkpoint, manager) if manager.checkpoints else None
  if restored:
    _LOG.info('Resumed from %s at step %d', restored, int(step.numpy()))
  elif training.warm_start_from:
    source = warm_start.load_weights(colorizer, training.warm_start_from, model_config)
    print(f'warm start: {source["path"]} ({source.get("steps", "?")} steps of {source.get("variant")}/'
          f'{source.get("loss")} on {source.get("trained_on", "?")})', flush=True)
  resumed_from = int(step.numpy())

  train_ds = data_lib.make_dataset(info.files['train'], info.image_size, global_batch, training=True,
                                   shuffle_buffer=training.shuffle_buffer, embedding_size=info.embedding_size,
                                   repeat=True, augment=training.online_augmentation,
                                   zoom_range=tuple(training.online_zoom_range),
                                   repeat_factors=repeat_plan.sector_factors if repeat_plan else None)
  if training.synthetic_input:
    train_ds = data_lib.synthetic_dataset(info.image_size, global_batch, info.embedding_size)
  iterator = iter(strategy.experimental_distribute_dataset(train_ds))

  def embed(features):
    if embedder is None or 'embedding' in features:  # no embedder, or precomputed by the dataset build
      return features
    rgb = model_lib.gray_to_rgb_0_255(features['l'], embedder.input_size)
    return {**features, 'embedding': tf.stop_gradient(embedder(rgb))}

  def loss_of(features, targets, training_mode):
    prediction = colorizer(embed(features), training=training_mode)
    targets = losses.match_resolution(targets, prediction)
    return objective.loss_fn(targets['ab'], prediction, targets['mask'])

  def make_step_fn(train_encoder: bool):
    def step_fn(batch):
      features, targets = batch
      variables = net.decoder_variables + (net.encoder_variables if train_encoder else [])
      with tf.GradientTape() as tape:
        loss = tf.nn.compute_average_loss(loss_of(features, targets, True), global_batch_size=global_batch)
        scaled = optimizer.scale_loss(loss) if hasattr(optimizer, 'scale_loss') else loss
      gradients = tape.gradient(scaled, variables)
      split = len(net.decoder_variables)
      optimizer.apply_gradients(zip(gradients[:split], net.decoder_variables))
      if train_encoder:
        encoder_optimizer.apply_gradients(zip(gradients[split:], net.encoder_variables))
      return loss
    return step_fn

  jit = bool(training.xla and tf.config.list_physical_devices('GPU'))

  def make_train_step(train_encoder: bool):
    step_fn = make_step_fn(train_encoder)

    @tf.function(jit_compile=jit)
    def train_step():
      per_replica = strategy.run(step_fn, args=(next(iterator),))
      step.assign_add(1)
      return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
    return train_step

  train_steps = {False: make_train_step(False), True: make_train_step(True)}

  @tf.function
  def eval_loss(features, targets):
    per_example = loss_of(features, targets, False)
    return tf.reduce_sum(per_example), tf.cast(tf.shape(per_example)[0], tf.float32)

  def eval_batches(batch_size=global_batch):
    return data_lib.make_dataset(eval_files, info.image_size, batch_size, training=False,
                                 embedding_size=info.embedding_size)

  def validation_loss() -> float | None:
    """The mean loss over the eval split (None without one)."""
    if not has_eval:
      return None
    total, n = 0.0, 0.0
    for features, targets in eval_batches():
      s, c = eval_loss(features, targets)
      total, n = total + float(s), n + float(c)
    return total / max(n, 1.0)

  writer = summaries.Writer(log_dir or os.path.join(output_dir, 'logs'), enabled=chief)
  history: dict[str, list[float]] = {'step': [], 'loss': [], 'val_loss': []}
  eval_files = info.files.get('eval') or []
  has_eval = bool(eval_files and info.examples.get('eval'))
  sample_batch = next(iter(eval_batches(4))) if has_eval else None

  running, count = 0.0, 0
  step_seconds = []
  budget_start = time.perf_counter()
  while int(step.numpy()) < total_steps:
    elapsed = time.perf_counter() - budget_start
    if time_budget_seconds and elapsed > time_budget_seconds:
      total_steps = int(step.numpy()) + 1  # one more step, then the end-of-training evaluation and export
    # The step about to run sits at the middle of its slice of the run (a 1-step run still learns).
    progress = max((int(step.numpy()) + 0.5) / total_steps,
                   elapsed / time_budget_seconds if time_budget_seconds else 0.0)
    rate = schedule.learning_rate(training, progress)
    optimizer.learning_rate = rate
    train_encoder = bool(net.encoder_variables) and not schedule.encoder_frozen(training, progress)
    if encoder_optimizer is not None:
      encoder_optimizer.learning_rate = rate * training.encoder_learning_rate_multiplier
    started = time.perf_counter()
    loss = float(train_steps[train_encoder]())
    step_seconds.append(time.perf_counter() - started)
    running, count = running + loss, count + 1
    current = int(step.numpy())
    done = max(current / total_steps, (time.perf_counter() - budget_start) / time_budget_seconds
               if time_budget_seconds else 0.0)
    if averaging.is_due(current, done, epoch_end=current % steps_per_epoch == 0, last_step=current == total_steps):
      averaging.add_snapshot(current)
    if current % training.checkpoint_every_steps == 0:
      manager.save(checkpoint_number=current)
    if current % steps_per_epoch == 0 or current == total_steps:
      val = validation_loss()
      history['step'].append(current)
      history['loss'].append(running / count)
      history['val_loss'].append(val if val is not None else float('nan'))
      writer.scalars(current, loss=running / count, val_loss=val, learning_rate=rate)
      if sample_batch is not None:
        predicted = objective.output_to_ab(colorizer(embed(sample_batch[0]), training=False))
        writer.colorizations(current, sample_batch[0]['l'], model_lib.scale_ab(predicted), sample_batch[1]['ab'])
      message = (f'step {current}/{total_steps}  loss {running / count:.5f}  val_loss '
                 f'{"n/a" if val is None else f"{val:.5f}"}  lr {rate:.2e}'
                 f'{"  (encoder frozen)" if net.encoder_variables and not train_encoder else ""}')
      _LOG.info(message)
      print(message, flush=True)
      manager.save(checkpoint_number=current)
      running, count = 0.0, 0
  steady = step_seconds[2:] or step_seconds  # the first steps trace and compile the step function
  examples_per_second = len(steady) * global_batch / max(sum(steady), 1e-9)

  averaged = None
  if averaging.apply():  # SWA: decode, export and push the mean of the run's last snapshots
    averaged = averaging.window(int(step.numpy()))
    val = validation_loss()
    if val is not None:
      history['averaged_val_loss'] = [val]
    writer.scalars(int(step.numpy()), averaged_val_loss=val)
    message = weight_averaging.describe(averaged, val, history['val_loss'][-1] if history['val_loss'] else None)
    _LOG.info(message)
    print(message, flush=True)

  if chief and has_eval:
    objective_lib.choose_decoding(config, objective, colorizer, embed, eval_batches(), info.image_size)
  writer.loss_curve_png(history, os.path.join(output_dir, 'loss_curves.png'))
  if objective.color_bins is not None and chief:
    objective_lib.write_json(os.path.join(output_dir, 'color_bins.json'), objective.color_bins)
  if objective.regression_decoding is not None and chief:
    objective_lib.write_json(os.path.join(output_dir, 'decoding.json'), objective.regression_decoding)
  if not (export and chief):
    export_dir = None
  else:
    export_dir = finish.export_run(config, objective, net, embed, info, export_dir or os.path.join(
        output_dir, 'export'), steps=int(step.numpy()), averaged=averaged, repeat_plan=repeat_plan,
        start_export_dir=start_export_dir, eval_batches=eval_batches if has_eval else None)
    objective_lib.write_json(os.path.join(output_dir, 'history.json'), history)
  writer.close()
  return TrainResult(export_dir, int(step.numpy()), history, examples_per_second, resumed_from)


def _dataset_dir_of(files: list[str], eval_files: list[str] | None = None, view_dir: str | None = None) -> str:
  """The dataset version (or a view of its splits) for TFX's split file patterns: `data.dataset_for_splits`."""
  from trainer import data as data_lib  # pylint: disable=g-import-not-at-top
  return data_lib.dataset_for_splits(files, eval_files, view_dir)


def run_fn(fn_args) -> None:
  """TFX Trainer entry point (the standard `run_fn(fn_args)` contract).

  Reads `fn_args.custom_config['config']` (the PipelineConfig's `model` and `training` sections as plain data,
  `configs.slice_dict`; a whole config works too), the dataset from `custom_config['dataset_dir']` or else from
  `fn_args.train_files`/`eval_files` (TFX split patterns: the splits of `train_args`/`eval_args`), stops after
  `fn_args.train_steps` when set, writes the SavedModel to `fn_args.serving_model_dir` and TensorBoard logs to
  `fn_args.model_run_dir`.
  """
  import configs  # pylint: disable=g-import-not-at-top
  custom = fn_args.custom_config or {}
  config = configs.config_from_slice(custom.get('config', {}))
  if fn_args.base_model:  # the latest blessed model (training.warm_start_from_blessed)
    config.training.warm_start_from = fn_args.base_model
  dataset_dir = custom.get('dataset_dir') or _dataset_dir_of(
      fn_args.train_files, fn_args.eval_files,
      os.path.join(fn_args.working_dir, 'dataset_view') if fn_args.working_dir else None)
  from contracts import model_artifact  # pylint: disable=g-import-not-at-top
  train(config, dataset_dir, fn_args.working_dir or os.path.dirname(fn_args.serving_model_dir),
        log_dir=fn_args.model_run_dir, max_steps=fn_args.train_steps or None,
        export_dir=fn_args.serving_model_dir,
        start_export_dir=model_artifact.start_model_dir(os.path.dirname(fn_args.serving_model_dir.rstrip('/'))))
