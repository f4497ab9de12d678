"""The last stage of a training run: the exported SavedModel, its weights file, and the model it started from.

Every export carries its colorizer's weights (`trainer/loop/warm_start.py`), so a pushed model is a warm-start source
as it is. A warm-started run also exports its starting model next to the candidate (`contracts/model_artifact.py`):
the gate scores both on the same examples, and the pusher can fall back to the starting model. Both SavedModels
carry their runtime exports (TFLite, ONNX: `trainer/runtime_exports.py`), so whichever is pushed has them.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import tensorflow as tf

from trainer import export as export_lib
from trainer import runtime_exports
from trainer.loop import warm_start
from trainer.loop import weight_averaging
from trainer.objective import flip_averaging
from trainer.objective import objective as objective_lib


def average_weights(state, validation, writer, history: dict[str, list[float]]) -> dict[str, Any] | None:
  """Swaps in the mean of the run's last snapshots (`training.averaging.fraction`); returns their window
  (None without averaging). What follows (decoding, export, push) sees the averaged weights."""
  if not state.averaging.apply():
    return None
  step = int(state.step.numpy())
  averaged = state.averaging.window(step)
  val = validation.loss()
  if val is not None:
    history['averaged_val_loss'] = [val]
  writer.scalars(step, averaged_val_loss=val)
  message = weight_averaging.describe(averaged, val, history['val_loss'][-1] if history['val_loss'] else None)
  print(message, flush=True)
  return averaged


def finish_run(config, plan, state, objective, steps, validation, writer, history: dict[str, list[float]],
               output_dir: str, *, export: bool, export_dir: str | None, start_export_dir: str | None) -> str | None:
  """Averaging, the decoding chosen on the eval split, the run's files, and (chief) the export; returns the
  SavedModel's folder or None."""
  averaged = average_weights(state, validation, writer, history)
  info, chief = plan.info, plan.chief
  if chief and validation.available:
    objective_lib.choose_decoding(config, objective, state.net.colorizer, steps.embed, validation.batches(),
                                  info.image_size)
  writer.loss_curve_png(history, os.path.join(output_dir, 'loss_curves.png'))
  if objective.color_bins is not None and chief:
    objective_lib.write_json(os.path.join(output_dir, 'color_bins.json'), objective.color_bins)
  if objective.regression_decoding is not None and chief:
    objective_lib.write_json(os.path.join(output_dir, 'decoding.json'), objective.regression_decoding)
  if not (export and chief):
    return None
  export_dir = export_run(config, objective, state.net, steps.embed, info, export_dir or os.path.join(
      output_dir, 'export'), steps=int(state.step.numpy()), averaged=averaged, repeat_plan=plan.repeat_plan,
      start_export_dir=start_export_dir, eval_batches=validation.batches if validation.available else None)
  objective_lib.write_json(os.path.join(output_dir, 'history.json'), history)
  return export_dir


def export_model(config, objective, net, image_size: int, export_dir: str) -> None:
  """The SavedModel at `export_dir` and, in its `runtimes/` folder, the same prediction for TFLite and ONNX
  (`training.runtime_exports`; when off, only the manifest saying so)."""
  combination = flip_averaging.flip_combination(config.model, objective.num_bins)
  export_lib.export_saved_model(net.colorizer, net.embedder, image_size, export_dir,
                                output_to_ab=objective.output_to_ab, flip_averaging=combination)
  runtime_exports.write_exports(net.colorizer, net.embedder, image_size, export_dir,
                                output_to_ab=objective.output_to_ab, flip_averaging=combination,
                                enabled=config.training.runtime_exports)


def export_run(config, objective, net, embed, info, export_dir: str, *, steps: int, averaged: dict[str, Any] | None,
               repeat_plan, start_export_dir: str | None, eval_batches: Callable | None) -> str:
  """Exports the trained colorizer (and, when warm-started, its starting model); returns `export_dir`."""
  export_model(config, objective, net, info.image_size, export_dir)
  warm_start.save_weights(net.colorizer, warm_start.weights_path(export_dir), {
      **warm_start.model_metadata(config.model), 'steps': steps, 'image_size': info.image_size,
      'trained_on': os.path.basename(info.version_dir.rstrip('/')),  # the dataset version, not a machine path
      'warm_started_from': os.path.basename(config.training.warm_start_from.rstrip('/')),
      **({'weight_averaging': averaged} if averaged else {}),
      **({'hue_repeat_sampling': repeat_plan.header()} if repeat_plan else {})})
  if start_export_dir and config.training.warm_start_from:
    export_start_model(config, objective, net, embed, eval_batches, info.image_size, start_export_dir)
  return export_dir


def export_start_model(config, objective, net, embed, eval_batches, image_size: int, export_dir: str) -> None:
  """Exports the model the run started from (`training.warm_start_from`), decoded on the same eval split as the
  candidate, so the gate can score both on the same examples. Overwrites the network's weights: call it last."""
  source = warm_start.load_weights(net.colorizer, config.training.warm_start_from, config.model)
  if eval_batches is not None:
    objective_lib.choose_decoding(config, objective, net.colorizer, embed, eval_batches(), image_size)
  export_model(config, objective, net, image_size, export_dir)
  target = warm_start.weights_path(export_dir)
  tf.io.gfile.makedirs(os.path.dirname(target))
  tf.io.gfile.copy(source['path'], target, overwrite=True)  # the starting file as it is, header included
  print(f'start model: {source["path"]} exported to {export_dir} for the gate', flush=True)
