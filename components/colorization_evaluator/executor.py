"""Scores a candidate colorizer on a held-out split, compares it with the baseline, and blesses it or not.

Subclasses TFX's Evaluator executor and writes its output under the key `blessing` with the custom properties the
stock Evaluator sets (`blessed`, `current_model`, `current_model_id`, `baseline_model`, `baseline_model_id`),
so TFX's LatestBlessedModelStrategy resolver finds blessed models (also on Vertex).

Keys:
  input_dict['examples']: Examples (a dataset version); the split `evaluation.split` names (default test: the
    trainer chose its decoding on eval) is scored.
  input_dict['model']: the candidate Model (`Format-Serving` SavedModel with the `predict_ab` signature).
  input_dict['baseline_model']: optional, the latest blessed Model. The baseline the candidate is compared with is
    the model it started from when the trainer exported one (`<model.uri>/Start-Serving`,
    `contracts/model_artifact.py`), else this one.
  exec_properties['config']: the evaluator's slice of the PipelineConfig (`configs.slice_json(config, 'evaluation')`):
    the thresholds; nothing else, so a gate change re-runs only the evaluator and what follows.
  output_dict['evaluation']: ModelEvaluation: metrics.json, report.html, sample colorizations, loss curves; the
    candidate's metrics as custom properties (`hue_recall_sectors_<i>` for the six hue sectors).
  output_dict['blessing']: ModelBlessing: an empty BLESSED or NOT_BLESSED file and the custom properties; with a
    start model also `start_model` (its path) and `start_model_blessed` (1 when it passes the absolute thresholds
    itself: the pusher's fallback, `push.fallback_to_start_model`).
"""

from __future__ import annotations

import math
import os
from typing import Any

import tensorflow as tf
from tfx import types
from tfx.components.evaluator import executor as tfx_evaluator_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.colorization_evaluator import report
from components.colorization_evaluator import scoring
import configs
from contracts import model_artifact
from contracts import schema

CONFIG_KEY = 'config'
EXAMPLES_KEY = 'examples'
MODEL_KEY = 'model'
BASELINE_MODEL_KEY = 'baseline_model'
EVALUATION_KEY = 'evaluation'
BLESSING_KEY = 'blessing'
MAX_EVAL_EXAMPLES = 2000


def _set_metric(artifact: types.Artifact, key: str, value: Any) -> None:
  """A float custom property; an undefined metric (NaN, e.g. a hue sector without coloured pixels) is recorded as
  the string 'nan': Vertex's metadata (a protobuf Struct in the executor output) cannot hold NaN or infinity."""
  value = float(value)
  if math.isfinite(value):
    artifact.set_float_custom_property(key, value)
  else:
    artifact.set_string_custom_property(key, str(value))


class Executor(tfx_evaluator_executor.Executor):
  """The colorization quality gate (see the module docstring for the keys)."""

  def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
         exec_properties: dict[str, Any]) -> None:
    config = configs.config_from_slice(exec_properties[CONFIG_KEY])
    split = config.evaluation.split
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
      raise ValueError(f'{examples.uri}: the {split} split (evaluation.split) is empty; nothing to evaluate')
    candidate, predictions = scoring.score(
        scoring.saved_model_predictor(path_utils.serving_model_path(model.uri)), records)
    references = scoring.score_references(records)
    start_dir = model_artifact.start_model_dir(model.uri)
    baseline, baseline_kind, start_blessed, start_reasons = None, None, None, None
    if fileio.exists(start_dir):
      baseline, _ = scoring.score(scoring.saved_model_predictor(start_dir), records)
      baseline_kind = 'start'
      start_blessed, start_reasons = scoring.decide(baseline, None, references, config.evaluation)
    elif baseline_model is not None:
      baseline, _ = scoring.score(
          scoring.saved_model_predictor(path_utils.serving_model_path(baseline_model.uri)), records)
      baseline_kind = 'latest_blessed'
    blessed, reasons = scoring.decide(candidate, baseline, references, config.evaluation)

    summary = {'split': split, 'examples': len(records), 'candidate': candidate, 'baseline': baseline,
               'baseline_kind': baseline_kind, 'references': references, 'blessed': blessed, 'reasons': reasons}
    if baseline_kind == 'start':
      summary.update(start_model=start_dir, start_blessed=start_blessed, start_reasons=start_reasons)
    report.write_metrics(evaluation.uri, summary)
    report.write_report(evaluation.uri, summary, records, predictions, config.evaluation.report_samples,
                        os.path.join(model.uri, 'working', 'loss_curves.png'))

    blessing.set_int_custom_property('blessed', int(blessed))
    blessing.set_string_custom_property('current_model', model.uri)
    blessing.set_int_custom_property('current_model_id', model.id)
    if baseline_kind == 'start':
      blessing.set_string_custom_property('start_model', start_dir)
      blessing.set_int_custom_property('start_model_blessed', int(start_blessed))
    if baseline_model is not None:
      blessing.set_string_custom_property('baseline_model', baseline_model.uri)
      blessing.set_int_custom_property('baseline_model_id', baseline_model.id)
    for key, value in candidate.items():
      if isinstance(value, list):  # the hue sectors: one property each
        for i, item in enumerate(value):
          _set_metric(evaluation, f'{key}_{i}', item)
      else:
        _set_metric(evaluation, key, value)
    fileio.makedirs(blessing.uri)
    with fileio.open(os.path.join(blessing.uri, 'BLESSED' if blessed else 'NOT_BLESSED'), 'w') as f:
      f.write('')
