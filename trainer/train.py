"""Distributed training of the colorizer: a custom loop that works under every tf.distribute strategy.

Keras 3 `model.fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585), so one loop serves the
default, Mirrored and MultiWorkerMirrored strategies: `strategy.run` + GradientTape + losses averaged over the
*global* batch. The loop runs in stages (`trainer/loop/`): plan, state (restored from the newest readable
checkpoint, the role Keras' BackupAndRestore plays for `fit`, or warm-started), steps, validation, the budgeted
loop, then `trainer.finish` (decoding, export). Only the chief writes summaries and the exported model.

The command-line task (also the Vertex AI custom-job entry point) is `trainer.task`.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import configs
from contracts import model_artifact

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainResult:
  """What a training run produced."""
  export_dir: str | None
  steps: int
  history: dict[str, list[float]]
  examples_per_second: float  # training steps only, after the first two (tracing)
  resumed_from_step: int


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
  # Lazy: the strategy must be chosen before Keras starts TensorFlow's runtime (logical devices).
  from trainer.loop import distribute  # pylint: disable=g-import-not-at-top
  strategy = distribute.choose_strategy(config.training)  # before any other TF op
  # Lazy, as above: Keras starts TensorFlow's runtime.
  import keras  # pylint: disable=g-import-not-at-top
  from trainer.loop import schedule  # pylint: disable=g-import-not-at-top
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
  """The stages of `train` (`trainer/loop/`) under the chosen strategy and precision policy."""
  # After `choose_strategy`: these modules import Keras, which starts TensorFlow's runtime, and logical CPU
  # devices can only be configured before that.
  from trainer import finish  # pylint: disable=g-import-not-at-top
  from trainer.input import data as data_lib  # pylint: disable=g-import-not-at-top
  from trainer.loop import budgeted  # pylint: disable=g-import-not-at-top
  from trainer.loop import plan as plan_lib  # pylint: disable=g-import-not-at-top
  from trainer.loop import state as state_lib  # pylint: disable=g-import-not-at-top
  from trainer.loop import steps as steps_lib  # pylint: disable=g-import-not-at-top
  from trainer.loop import summaries  # pylint: disable=g-import-not-at-top
  from trainer.loop import validation as validation_lib  # pylint: disable=g-import-not-at-top
  from trainer.objective import objective as objective_lib  # pylint: disable=g-import-not-at-top

  plan = plan_lib.plan_run(config, strategy, dataset_path, max_steps, time_budget_seconds)
  info = plan.info
  print(f'strategy={type(strategy).__name__} replicas={plan.replicas} global_batch={plan.global_batch} '
        f'steps={plan.total_steps} image_size={info.image_size} variant={config.model.network.variant} '
        f'loss={config.model.loss.kind} precision={policy} chief={plan.chief}', flush=True)
  objective = objective_lib.make_objective(
      config.model, info.image_size, lambda: data_lib.training_sample(info.files['train'], info.image_size))
  state = state_lib.build_state(config, strategy, policy, objective, plan, output_dir)
  steps = steps_lib.StepFunctions(state, objective, strategy, plan,
                                  steps_lib.training_input(config.training, plan, strategy), config.training.xla)
  validation = validation_lib.Validation(plan, steps.eval_loss)
  writer = summaries.Writer(log_dir or os.path.join(output_dir, 'logs'), enabled=plan.chief)
  loop = budgeted.run_loop(config, plan, state, objective, steps, validation, writer)
  exported = finish.finish_run(config, plan, state, objective, steps, validation, writer, loop.history, output_dir,
                               export=export, export_dir=export_dir, start_export_dir=start_export_dir)
  writer.close()
  return TrainResult(exported, int(state.step.numpy()), loop.history, loop.examples_per_second, state.resumed_from)


def _dataset_dir_of(files: list[str], eval_files: list[str] | None = None, view_dir: str | None = None) -> str:
  """The dataset version (or a view of its splits) for TFX's split file patterns: `data.dataset_for_splits`."""
  # Lazy: data imports Keras, which starts TensorFlow's runtime (see `train`).
  from trainer.input import data as data_lib  # pylint: disable=g-import-not-at-top
  return data_lib.dataset_for_splits(files, eval_files, view_dir)


def run_fn(fn_args) -> None:
  """TFX Trainer entry point (the standard `run_fn(fn_args)` contract).

  Reads `fn_args.custom_config['config']` (the PipelineConfig's `model` and `training` sections as plain data,
  `configs.slice_dict`; a whole config works too), the dataset from `custom_config['dataset_dir']` or else from
  `fn_args.train_files`/`eval_files` (TFX split patterns: the splits of `train_args`/`eval_args`), stops after
  `fn_args.train_steps` when set, writes the SavedModel to `fn_args.serving_model_dir` and TensorBoard logs to
  `fn_args.model_run_dir`.
  """
  custom = fn_args.custom_config or {}
  config = configs.config_from_slice(custom.get('config', {}))
  if fn_args.base_model:  # the latest blessed model (training.warm_start_from_blessed)
    config.training.warm_start_from = fn_args.base_model
  dataset_dir = custom.get('dataset_dir') or _dataset_dir_of(
      fn_args.train_files, fn_args.eval_files,
      os.path.join(fn_args.working_dir, 'dataset_view') if fn_args.working_dir else None)
  train(config, dataset_dir, fn_args.working_dir or os.path.dirname(fn_args.serving_model_dir),
        log_dir=fn_args.model_run_dir, max_steps=fn_args.train_steps or None,
        export_dir=fn_args.serving_model_dir,
        start_export_dir=model_artifact.start_model_dir(os.path.dirname(fn_args.serving_model_dir.rstrip('/'))))
