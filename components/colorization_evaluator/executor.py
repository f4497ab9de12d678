"""Scores a candidate colorizer on the eval split, compares it with the baseline, and blesses it or not.

Subclasses TFX's Evaluator executor and writes its output under the key `blessing` with the custom properties the
stock Evaluator sets (`blessed`, `current_model`, `current_model_id`, `baseline_model`, `baseline_model_id`),
so TFX's LatestBlessedModelStrategy resolver finds blessed models (also on Vertex).

Keys:
  input_dict['examples']: Examples (a dataset version); the `split` property's split (default eval) is scored.
  input_dict['model']: the candidate Model (`Format-Serving` SavedModel with the `predict_ab` signature).
  input_dict['baseline_model']: optional, the latest blessed Model.
  exec_properties['config']: the PipelineConfig JSON; `evaluation` holds the thresholds.
  output_dict['evaluation']: ModelEvaluation: metrics.json, report.html, sample colorizations, loss curves.
  output_dict['blessing']: ModelBlessing: an empty BLESSED or NOT_BLESSED file and the custom properties.
"""

from __future__ import annotations

import html
import json
import os
import shutil
from typing import Any

import numpy as np
from PIL import Image
import tensorflow as tf
from tfx import types
from tfx.components.evaluator import executor as tfx_evaluator_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import path_utils

import configs
from contracts import colorspace
from contracts import schema
from trainer import metrics

CONFIG_KEY = 'config'
SPLIT_KEY = 'split'
EXAMPLES_KEY = 'examples'
MODEL_KEY = 'model'
BASELINE_MODEL_KEY = 'baseline_model'
EVALUATION_KEY = 'evaluation'
BLESSING_KEY = 'blessing'
MAX_EVAL_EXAMPLES = 2000


def score(model_dir: str, records: list[dict[str, Any]]) -> tuple[dict[str, float], list[np.ndarray]]:
  """Metrics of the SavedModel at `model_dir` on decoded records, and its predicted ab per record."""
  predict = tf.saved_model.load(model_dir).signatures['predict_ab']
  labs = [r[schema.LAB] for r in records]
  predictions = []
  for start in range(0, len(labs), 32):
    l = np.stack([lab[..., :1] for lab in labs[start:start + 32]]).astype(np.float32)
    predictions.extend(list(predict(l=tf.constant(l))['ab'].numpy()))
  report = metrics.evaluate(labs, predictions).as_dict()
  frequency = metrics.bin_frequencies(labs)
  coloured = [i for i, lab in enumerate(labs) if metrics.is_coloured(lab)]
  report['rebalanced_ab_accuracy'] = float(np.mean(
      [metrics.rebalanced_ab_accuracy(labs[i][..., 1:], predictions[i], frequency) for i in coloured]))
  return report, predictions


def decide(candidate: dict[str, float], baseline: dict[str, float] | None,
           thresholds: configs.EvaluationConfig) -> tuple[bool, list[str]]:
  """Blessed when the absolute thresholds hold and no metric regresses beyond its allowed change."""
  reasons = []
  if candidate['delta_psnr'] < thresholds.min_delta_psnr:
    reasons.append(f'ΔPSNR {candidate["delta_psnr"]:.2f} dB < min_delta_psnr {thresholds.min_delta_psnr}')
  if candidate['desaturation_rate'] > thresholds.max_desaturation_rate:
    reasons.append(f'desaturation rate {candidate["desaturation_rate"]:.2f} > max_desaturation_rate '
                   f'{thresholds.max_desaturation_rate}')
  if candidate['delta_colourfulness'] > thresholds.max_delta_colorfulness:
    reasons.append(f'ΔCF {candidate["delta_colourfulness"]:.1f} > max_delta_colorfulness '
                   f'{thresholds.max_delta_colorfulness}')
  if baseline is not None:
    if baseline['psnr'] - candidate['psnr'] > thresholds.max_psnr_regression:
      reasons.append(f'PSNR regressed {baseline["psnr"] - candidate["psnr"]:.2f} dB against the baseline '
                     f'(> max_psnr_regression {thresholds.max_psnr_regression})')
    if candidate['delta_colourfulness'] - baseline['delta_colourfulness'] > thresholds.max_colorfulness_regression:
      reasons.append(f'ΔCF regressed {candidate["delta_colourfulness"] - baseline["delta_colourfulness"]:.1f} '
                     f'against the baseline (> max_colorfulness_regression '
                     f'{thresholds.max_colorfulness_regression})')
  return not reasons, reasons


def _write_report(out_dir: str, candidate, baseline, blessed, reasons, records, predictions, samples: int,
                  loss_curves: str | None) -> None:
  fileio.makedirs(os.path.join(out_dir, 'samples'))
  rows = []
  for i, (record, ab) in enumerate(zip(records[:samples], predictions[:samples])):
    lab = record[schema.LAB]
    gray = colorspace.lab_to_rgb8(np.concatenate([lab[..., :1], np.zeros_like(ab)], -1))
    strip = np.concatenate([gray, colorspace.lab_to_rgb8(np.concatenate([lab[..., :1], ab], -1)),
                            colorspace.lab_to_rgb8(lab)], axis=1)
    name = f'samples/{i:03d}.png'
    Image.fromarray(strip).save(os.path.join(out_dir, name))
    rows.append(f'<figure><img src="{name}" width="{3 * 2 * lab.shape[1]}"><figcaption>'
                f'{html.escape(os.path.basename(record[schema.SOURCE_URI]))}</figcaption></figure>')
  if loss_curves and os.path.exists(loss_curves):
    shutil.copy(loss_curves, os.path.join(out_dir, 'loss_curves.png'))
  table = ''.join(f'<tr><td>{html.escape(k)}</td><td>{v:.4f}</td><td>'
                  f'{"" if baseline is None else f"{baseline[k]:.4f}"}</td></tr>' for k, v in candidate.items())
  verdict = 'BLESSED' if blessed else 'NOT BLESSED: ' + html.escape('; '.join(reasons))
  page = (f'<!doctype html><meta charset="utf-8"><title>Colorization evaluation</title>'
          f'<h1>{verdict}</h1><table border="1"><tr><th>metric</th><th>candidate</th><th>baseline</th></tr>'
          f'{table}</table><h2>Loss curves</h2><img src="loss_curves.png">'
          f'<h2>Samples: gray input | prediction | original</h2>{"".join(rows)}')
  with open(os.path.join(out_dir, 'report.html'), 'w', encoding='utf-8') as f:
    f.write(page)


class Executor(tfx_evaluator_executor.Executor):
  """The colorization quality gate (see the module docstring for the keys)."""

  def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
         exec_properties: dict[str, Any]) -> None:
    config = configs.config_from_dict(json.loads(exec_properties[CONFIG_KEY]))
    split = exec_properties.get(SPLIT_KEY) or 'eval'
    examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
    model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
    baseline_artifacts = input_dict.get(BASELINE_MODEL_KEY) or []
    baseline_model = baseline_artifacts[0] if baseline_artifacts else None
    evaluation = artifact_utils.get_single_instance(output_dict[EVALUATION_KEY])
    blessing = artifact_utils.get_single_instance(output_dict[BLESSING_KEY])

    files = tf.io.gfile.glob(os.path.join(examples.uri, schema.split_file_pattern(split)))
    records = [schema.decode_example_numpy(r.numpy()) for r in
               tf.data.TFRecordDataset(files, compression_type='GZIP').take(MAX_EVAL_EXAMPLES)]
    if not records:
      raise ValueError(f'{examples.uri}: the {split} split is empty; nothing to evaluate')
    candidate, predictions = score(path_utils.serving_model_path(model.uri), records)
    baseline = None
    if baseline_model is not None:
      baseline, _ = score(path_utils.serving_model_path(baseline_model.uri), records)
    blessed, reasons = decide(candidate, baseline, config.evaluation)

    fileio.makedirs(evaluation.uri)
    with open(os.path.join(evaluation.uri, 'metrics.json'), 'w') as f:
      json.dump({'split': split, 'examples': len(records), 'candidate': candidate, 'baseline': baseline,
                 'blessed': blessed, 'reasons': reasons}, f, indent=2)
    _write_report(evaluation.uri, candidate, baseline, blessed, reasons, records, predictions,
                  config.evaluation.report_samples, os.path.join(model.uri, 'working', 'loss_curves.png'))

    blessing.set_int_custom_property('blessed', int(blessed))
    blessing.set_string_custom_property('current_model', model.uri)
    blessing.set_int_custom_property('current_model_id', model.id)
    if baseline_model is not None:
      blessing.set_string_custom_property('baseline_model', baseline_model.uri)
      blessing.set_int_custom_property('baseline_model_id', baseline_model.id)
    for key, value in candidate.items():
      evaluation.set_float_custom_property(key, float(value))
    fileio.makedirs(blessing.uri)
    with fileio.open(os.path.join(blessing.uri, 'BLESSED' if blessed else 'NOT_BLESSED'), 'w') as f:
      f.write('')
