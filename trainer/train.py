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
import json
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


REBALANCING_SAMPLE = 2000  # training examples whose ab histogram sets the class-rebalancing weights


def _classification_setup(model_config, info, output_dir: str, chief: bool):
  """Zhang et al.'s loss: bins, rebalancing weights from the training split's histogram, annealed-mean decoding.

  The histogram is computed once, over up to REBALANCING_SAMPLE training examples (padding excluded), and stored
  next to the model (`color_bins.json`); the exported graph carries the centres as constants.
  """
  import functools  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from trainer import color_bins  # pylint: disable=g-import-not-at-top
  from trainer import data as data_lib  # pylint: disable=g-import-not-at-top
  from trainer import model as model_lib  # pylint: disable=g-import-not-at-top
  centers = color_bins.ab_bin_centers()
  sample = data_lib.make_dataset(info.files['train'], info.image_size, 64, training=False,
                                 embedding_size=info.embedding_size).take(max(1, REBALANCING_SAMPLE // 64))
  histogram = color_bins.bin_histogram(
      (model_lib.unscale_ab(targets['ab']).numpy(), targets['mask'].numpy()) for _, targets in sample)
  weights = color_bins.rebalancing_weights(histogram, lam=model_config.rebalance_lambda)
  if chief:
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, 'color_bins.json'), 'w') as f:
      json.dump({'centers': centers.tolist(), 'histogram': histogram.tolist(), 'weights': weights.tolist(),
                 'lambda': model_config.rebalance_lambda,
                 'temperature': model_config.annealed_mean_temperature}, f)
  loss_fn = functools.partial(color_bins.classification_loss, weights=tf.constant(weights), centers=centers)
  output_to_ab = functools.partial(color_bins.annealed_mean, centers=centers,
                                   temperature=model_config.annealed_mean_temperature)
  return loss_fn, output_to_ab, len(centers)


def train(config, dataset_path: str, output_dir: str, *, log_dir: str | None = None,
          max_steps: int | None = None, export: bool = True, time_budget_seconds: float | None = None,
          export_dir: str | None = None) -> TrainResult:
  """Trains on the dataset version at (or LATEST under) `dataset_path`; exports to `<output_dir>/export`.

  Args:
    config: The PipelineConfig (model, training; data is read from the dataset manifest).
    dataset_path: A dataset version folder or a folder whose LATEST names one.
    output_dir: Checkpoints go to `<output_dir>/checkpoints`, the SavedModel to `<output_dir>/export`.
    log_dir: TensorBoard logs (default `<output_dir>/logs`).
    export_dir: Where the SavedModel goes (default `<output_dir>/export`).
    max_steps: Stop after this many steps in total (tests, benchmarks); default epochs x steps per epoch.
    export: Write the SavedModel (chief only).
    time_budget_seconds: Stop (with a final evaluation, checkpoint and export) once training took this long.
      Single-worker runs only (benchmarks): workers would disagree on the last step.
  """
  from trainer import distribute  # pylint: disable=g-import-not-at-top
  strategy = distribute.choose_strategy(config.training)  # before any other TF op
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import keras  # pylint: disable=g-import-not-at-top
  from trainer import data as data_lib  # pylint: disable=g-import-not-at-top
  from trainer import export as export_lib  # pylint: disable=g-import-not-at-top
  from trainer import losses  # pylint: disable=g-import-not-at-top
  from trainer import model as model_lib  # pylint: disable=g-import-not-at-top
  from trainer import summaries  # pylint: disable=g-import-not-at-top

  tf_config = distribute.cluster_from_environment()
  chief = distribute.is_chief(tf_config)
  training, model_config = config.training, config.model
  if training.mixed_precision and tf.config.list_physical_devices('GPU'):
    keras.mixed_precision.set_global_policy('mixed_float16')

  info = data_lib.dataset_info(dataset_path)
  if info.embedding_size and (model_config.variant != 'fusion' or info.embedding_name != model_config.embedder):
    _LOG.warning('Ignoring the records\' precomputed %s embeddings (model: %s/%s)', info.embedding_name,
                 model_config.variant, model_config.embedder)
    info = dataclasses.replace(info, embedding_size=0)
  replicas = strategy.num_replicas_in_sync
  global_batch = training.batch_size_per_replica * replicas
  steps_per_epoch = max(1, info.examples.get('train', 0) // global_batch)
  total_steps = max_steps or training.epochs * steps_per_epoch
  print(f'strategy={type(strategy).__name__} replicas={replicas} global_batch={global_batch} '
        f'steps={total_steps} image_size={info.image_size} chief={chief}', flush=True)

  output_to_ab, num_bins = model_lib.unscale_ab, 0
  if model_config.loss == 'classification':
    loss_fn, output_to_ab, num_bins = _classification_setup(model_config, info, output_dir, chief)
  else:
    loss_fn = losses.REGRESSION_LOSSES[model_config.loss]

  with strategy.scope():
    embedder = None
    embedding_size = 0
    if model_config.variant == 'fusion':
      from trainer import embedders  # pylint: disable=g-import-not-at-top
      embedder = embedders.load_embedder(model_config)
      embedding_size = embedder.size
    colorizer = model_lib.build_colorizer(model_config, embedding_size, num_bins=num_bins)
    optimizer = keras.optimizers.Adam(training.learning_rate)
    optimizer.build(colorizer.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
    checkpoint = tf.train.Checkpoint(model=colorizer, optimizer=optimizer, step=step)

  checkpoint_dir = _task_dir(os.path.join(output_dir, 'checkpoints'), tf_config, chief)
  manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir, max_to_keep=3)
  if manager.latest_checkpoint:
    checkpoint.restore(manager.latest_checkpoint)
    _LOG.info('Resumed from %s at step %d', manager.latest_checkpoint, int(step.numpy()))
  resumed_from = int(step.numpy())

  train_ds = data_lib.make_dataset(info.files['train'], info.image_size, global_batch, training=True,
                                   shuffle_buffer=training.shuffle_buffer, embedding_size=info.embedding_size,
                                   repeat=True, augment=training.online_augmentation)
  if training.synthetic_input:
    train_ds = data_lib.synthetic_dataset(info.image_size, global_batch, info.embedding_size)
  iterator = iter(strategy.experimental_distribute_dataset(train_ds))

  def embed(features):
    if embedder is None:
      return features
    if 'embedding' in features:  # precomputed by the dataset build
      return features
    rgb = model_lib.gray_to_rgb_0_255(features['l'], embedder.input_size)
    return {**features, 'embedding': tf.stop_gradient(embedder(rgb))}

  def step_fn(batch):
    features, targets = batch
    features = embed(features)
    with tf.GradientTape() as tape:
      prediction = colorizer(features, training=True)
      per_example = loss_fn(targets['ab'], prediction, targets['mask'])
      loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
    gradients = tape.gradient(loss, colorizer.trainable_variables)
    optimizer.apply_gradients(zip(gradients, colorizer.trainable_variables))
    return loss

  jit = bool(training.xla and tf.config.list_physical_devices('GPU'))

  @tf.function(jit_compile=jit)
  def train_step():
    per_replica = strategy.run(step_fn, args=(next(iterator),))
    step.assign_add(1)
    return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

  @tf.function
  def eval_loss(features, targets):
    prediction = colorizer(embed(features), training=False)
    return tf.reduce_sum(loss_fn(targets['ab'], prediction, targets['mask'])), tf.cast(tf.shape(prediction)[0],
                                                                                     tf.float32)

  writer = summaries.Writer(log_dir or os.path.join(output_dir, 'logs'), enabled=chief)
  history: dict[str, list[float]] = {'step': [], 'loss': [], 'val_loss': []}
  eval_files = info.files.get('eval') or []
  sample_batch = None
  if eval_files and info.examples.get('eval'):
    sample_batch = next(iter(data_lib.make_dataset(eval_files, info.image_size, 4, training=False,
                                                   embedding_size=info.embedding_size)))

  running, count = 0.0, 0
  step_seconds = []
  budget_start = time.perf_counter()
  while int(step.numpy()) < total_steps:
    if time_budget_seconds and time.perf_counter() - budget_start > time_budget_seconds:
      total_steps = int(step.numpy()) + 1  # one more step, then the end-of-training evaluation and export
    started = time.perf_counter()
    loss = float(train_step())
    step_seconds.append(time.perf_counter() - started)
    running, count = running + loss, count + 1
    current = int(step.numpy())
    if current % training.checkpoint_every_steps == 0:
      manager.save(checkpoint_number=current)
    if current % steps_per_epoch == 0 or current == total_steps:
      val = None
      if eval_files and info.examples.get('eval'):
        total, n = 0.0, 0.0
        for features, targets in data_lib.make_dataset(eval_files, info.image_size, global_batch, training=False,
                                                       embedding_size=info.embedding_size):
          s, c = eval_loss(features, targets)
          total, n = total + float(s), n + float(c)
        val = total / max(n, 1.0)
      history['step'].append(current)
      history['loss'].append(running / count)
      history['val_loss'].append(val if val is not None else float('nan'))
      writer.scalars(current, loss=running / count, val_loss=val, learning_rate=training.learning_rate)
      if sample_batch is not None:
        predicted = output_to_ab(colorizer(embed(sample_batch[0]), training=False))
        writer.colorizations(current, sample_batch[0]['l'], model_lib.scale_ab(predicted), sample_batch[1]['ab'])
      _LOG.info('step %d/%d  loss %.5f  val_loss %s', current, total_steps, running / count,
                'n/a' if val is None else f'{val:.5f}')
      print(f'step {current}/{total_steps}  loss {running / count:.5f}  val_loss '
            f'{"n/a" if val is None else f"{val:.5f}"}', flush=True)
      manager.save(checkpoint_number=current)
      running, count = 0.0, 0
  steady = step_seconds[2:] or step_seconds  # the first steps trace and compile the step function
  examples_per_second = len(steady) * global_batch / max(sum(steady), 1e-9)

  writer.loss_curve_png(history, os.path.join(output_dir, 'loss_curves.png'))
  if not (export and chief):
    export_dir = None
  else:
    export_dir = export_dir or os.path.join(output_dir, 'export')
    export_lib.export_saved_model(colorizer, embedder, info.image_size, export_dir, output_to_ab=output_to_ab)
    with open(os.path.join(output_dir, 'history.json'), 'w') as f:
      json.dump(history, f)
  writer.close()
  return TrainResult(export_dir, int(step.numpy()), history, examples_per_second, resumed_from)


def _dataset_dir_of(files: list[str]) -> str:
  """The dataset version holding the given split files/patterns (the folder above them with a manifest)."""
  from contracts import dataset_version  # pylint: disable=g-import-not-at-top
  path = files[0].rstrip('/*')
  for _ in range(4):
    path = os.path.dirname(path)
    if dataset_version.is_complete(path):
      return path
  raise ValueError(f'no dataset manifest above {files[0]}')


def run_fn(fn_args) -> None:
  """TFX Trainer entry point (the standard `run_fn(fn_args)` contract).

  Reads `fn_args.custom_config['config']` (the PipelineConfig as plain data, `configs.to_dict`), the dataset from
  `custom_config['dataset_dir']` or the folder above `fn_args.train_files`, stops after `fn_args.train_steps` when
  set, writes the SavedModel to `fn_args.serving_model_dir` and TensorBoard logs to `fn_args.model_run_dir`.
  """
  import configs  # pylint: disable=g-import-not-at-top
  custom = fn_args.custom_config or {}
  config = configs.config_from_dict(custom.get('config', {}))
  dataset_dir = custom.get('dataset_dir') or _dataset_dir_of(fn_args.train_files)
  train(config, dataset_dir, fn_args.working_dir or os.path.dirname(fn_args.serving_model_dir),
        log_dir=fn_args.model_run_dir, max_steps=fn_args.train_steps or None,
        export_dir=fn_args.serving_model_dir)
