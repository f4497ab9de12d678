"""ColorizationEvaluator's executor on real artifacts: blessed, not blessed, regression against a baseline (the
latest blessed model, or the model the candidate started from, with the pusher's fallback to it), no baseline,
and the two reference predictors (no colour, constant sepia) refused by the shipped configs' gates."""

import copy
import json
import os
import shutil

import pytest
import tensorflow as tf
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

import configs
from components.colorization_evaluator import executor
from components.idempotent_pusher import executor as pusher_executor
from contracts import beam_options
from contracts import model_artifact
from contracts import schema
from pipeline import build_dataset
from tests.conftest import copy_sample_photos
from tests.conftest import TINY_MODEL
from tests.conftest import TINY_SPLITS
from trainer import train as train_lib


@pytest.fixture(scope='module')
def artifacts(tmp_path_factory):
  """A dataset with an eval split and two trained models: one barely trained, one trained longer."""
  root = tmp_path_factory.mktemp('evaluator')
  photos = copy_sample_photos(root / 'photos', 10)
  config = configs.load_config(overrides=[
      f'data.input_uri={photos}', *TINY_SPLITS, *TINY_MODEL, 'model.loss.kind=classification',
      'training.optimizer.learning_rate=0.003'])
  examples = standard_artifacts.Examples()
  examples.uri = str(root / 'examples')
  build_dataset.run_build(config, version_dir=examples.uri)
  models = {}
  for name, steps in (('weak', 1), ('strong', 60)):
    model = standard_artifacts.Model()
    model.uri = str(root / name)
    model.id = {'weak': 11, 'strong': 12}[name]
    train_lib.train(config, examples.uri, os.path.join(model.uri, 'working'), max_steps=steps,
                    export_dir=os.path.join(model.uri, 'Format-Serving'))
    models[name] = model
  return config, examples, models


def evaluate(config, examples, model, baseline, tmp_path, **thresholds):
  config = copy.deepcopy(config)  # the thresholds hold for this call only
  for key, value in thresholds.items():
    setattr(config.evaluation, key, value)
  evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
  evaluation.uri, blessing.uri = str(tmp_path / 'evaluation'), str(tmp_path / 'blessing')
  inputs = {'examples': [examples], 'model': [model]}
  if baseline is not None:
    inputs['baseline_model'] = [baseline]
  context = executor.Executor.Context(beam_pipeline_args=beam_options.beam_args(config.runner),
                                      tmp_dir=str(tmp_path / 'tmp'))
  executor.Executor(context).Do(inputs, {'evaluation': [evaluation], 'blessing': [blessing]},
                                {'config': json.dumps(configs.to_dict(config))})
  return evaluation, blessing, json.load(open(tmp_path / 'evaluation' / 'metrics.json'))


def eval_count(examples):
  files = tf.io.gfile.glob(os.path.join(examples.uri, schema.split_file_pattern('eval')))
  return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type='GZIP'))


LOOSE = dict(min_delta_psnr=-50.0, max_desaturation_rate=1.0, max_delta_colorfulness=100.0,
             min_hue_recall_vs_sepia=0.0, min_colorfulness_ratio=0.0, min_hue_recall=0.0, min_sector_recall=0.0)


def test_blessed_without_baseline(artifacts, tmp_path):
  config, examples, models = artifacts
  evaluation, blessing, report = evaluate(config, examples, models['strong'], None, tmp_path, **LOOSE)
  assert report['blessed'] and blessing.get_int_custom_property('blessed') == 1
  assert os.path.exists(tmp_path / 'blessing' / 'BLESSED')
  assert blessing.get_int_custom_property('current_model_id') == 12
  assert blessing.get_string_custom_property('current_model') == models['strong'].uri
  assert report['baseline'] is None and 'psnr' in report['candidate']
  assert report['split'] == 'eval' and report['examples'] == eval_count(examples)
  assert 0 < report['candidate']['rebalanced_ab_accuracy'] <= 1
  page = open(tmp_path / 'evaluation' / 'report.html').read()
  assert 'BLESSED' in page and 'samples/000.png' in page
  assert os.path.exists(tmp_path / 'evaluation' / 'samples' / '000.png')
  assert os.path.exists(tmp_path / 'evaluation' / 'loss_curves.png')
  sectors = report['candidate']['hue_recall_sectors']
  assert len(sectors) == 6 and evaluation.get_float_custom_property('hue_recall_sectors_0') == pytest.approx(
      sectors[0], nan_ok=True)
  assert report['references']['gray']['hue_recall'] == 0.0 and report['references']['gray']['colourfulness'] < 0.5
  assert 'hue 0-60°' in page and 'constant sepia' in page


def test_the_gate_scores_the_configured_split_and_names_an_empty_one(artifacts, tmp_path):
  config, examples, models = artifacts
  held_out = copy.deepcopy(config)
  held_out.evaluation.split = 'test'
  with pytest.raises(ValueError, match=r'the test split \(evaluation.split\) is empty'):
    evaluate(held_out, examples, models['strong'], None, tmp_path, **LOOSE)


def test_not_blessed_when_an_absolute_threshold_fails(artifacts, tmp_path):
  config, examples, models = artifacts
  _, blessing, report = evaluate(config, examples, models['strong'], None, tmp_path, **{**LOOSE,
                                                                                     'min_delta_psnr': 50.0})
  assert not report['blessed'] and blessing.get_int_custom_property('blessed') == 0
  assert os.path.exists(tmp_path / 'blessing' / 'NOT_BLESSED')
  assert any('min_delta_psnr' in r for r in report['reasons'])


def test_regression_against_the_baseline_is_not_blessed(artifacts, tmp_path):
  config, examples, models = artifacts
  loose = LOOSE
  _, _, strong = evaluate(config, examples, models['strong'], None, tmp_path / 'a', **loose)
  _, _, weak = evaluate(config, examples, models['weak'], None, tmp_path / 'b', **loose)
  better, worse = (models['strong'], models['weak']) if strong['candidate']['psnr'] > weak['candidate']['psnr'] \
      else (models['weak'], models['strong'])
  # The PSNR rule alone (the hue-recall rule has its own test below): the two tiny models' hue recalls are close.
  _, blessing, report = evaluate(config, examples, worse, better, tmp_path / 'c', max_psnr_regression=0.0,
                                 max_colorfulness_regression=100.0, max_hue_recall_regression=1.0, **loose)
  assert not report['blessed']
  assert any('regressed' in r and 'PSNR' in r for r in report['reasons']), report['reasons']
  assert blessing.get_int_custom_property('baseline_model_id') == better.id
  _, blessing, report = evaluate(config, examples, better, worse, tmp_path / 'd', max_psnr_regression=0.0,
                                 max_colorfulness_regression=100.0, max_hue_recall_regression=1.0, **loose)
  assert report['blessed'], report['reasons']


class ConstantColour(tf.Module):
  """A SavedModel that paints every pixel one ab colour: the references a gate must refuse, as real models."""

  def __init__(self, ab):
    super().__init__()
    self.ab = tf.constant(ab, tf.float32)

  @tf.function(input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32, name='l')])
  def predict_ab(self, l):
    return {'ab': tf.zeros_like(tf.concat([l, l], -1)) + self.ab}


@pytest.mark.parametrize('yaml', ['local.yaml', 'gcp.yaml'])
@pytest.mark.parametrize('name,ab', [('gray', (0.0, 0.0)), ('sepia', (6.0, 18.0))])
def test_the_shipped_gates_refuse_no_colour_and_a_constant_sepia(artifacts, tmp_path, yaml, name, ab):
  _, examples, _ = artifacts
  shipped = configs.load_config(os.path.join(os.path.dirname(configs.__file__), yaml))
  assert shipped.evaluation.split == 'test'  # held out from the decoding choice; this fixture has no test split
  shipped.evaluation.split = 'eval'
  model = standard_artifacts.Model()
  model.uri, model.id = str(tmp_path / name), 21
  module = ConstantColour(ab)
  tf.saved_model.save(module, str(tmp_path / name / 'Format-Serving'), signatures={'predict_ab': module.predict_ab})
  _, blessing, report = evaluate(shipped, examples, model, None, tmp_path / 'run')
  assert not report['blessed'] and os.path.exists(tmp_path / 'run' / 'blessing' / 'NOT_BLESSED')
  assert any('hue-balanced recall' in r for r in report['reasons']), report['reasons']
  if name == 'sepia':  # colourful enough for a colourfulness gate alone; the hue recall is what refuses it
    assert report['candidate']['hue_recall'] == pytest.approx(report['references']['sepia']['hue_recall'])
    assert sum(r > 0 for r in report['candidate']['hue_recall_sectors']) <= 2


def test_the_decoding_chosen_on_the_eval_split_is_the_one_served(artifacts, tmp_path):
  """Classification: the trainer's decoding search (its own eval pass, in the Keras graph) and the evaluator
  (the SavedModel's predict_ab) agree at the chosen temperature and prior correction, and only there."""
  from trainer.objective import decoding
  config, examples, models = artifacts
  stored = json.load(open(os.path.join(models['strong'].uri, 'working', 'color_bins.json')))
  table = stored['temperature_search']
  assert len(table) == len(config.model.decoding.temperature_candidates) * len(config.model.decoding.prior_correction_candidates)
  chosen = decoding.pick(table, config.model.decoding.max_psnr_cost, config.model.decoding.hue_tolerance)
  assert (stored['temperature'], stored['prior_correction']) == (chosen['temperature'], chosen['prior_correction'])
  _, _, report = evaluate(config, examples, models['strong'], None, tmp_path, **LOOSE)
  served = report['candidate']
  assert abs(chosen['delta_psnr'] - served['delta_psnr']) < 0.02
  assert abs(chosen['hue_recall'] - served['hue_recall']) < 0.01
  assert any(abs(row['delta_psnr'] - served['delta_psnr']) > 0.05 for row in table)  # other temperatures differ


def _constant_model(tmp_path, name, ab, model_id):
  """A Model artifact whose Format-Serving SavedModel paints every pixel `ab` (`ConstantColour`)."""
  model = standard_artifacts.Model()
  model.uri, model.id = str(tmp_path / name), model_id
  module = ConstantColour(ab)
  tf.saved_model.save(module, os.path.join(model.uri, 'Format-Serving'), signatures={'predict_ab': module.predict_ab})
  return model


def _model_with_start(tmp_path, name, candidate_dir, start_dir, model_id):
  """A Model artifact laid out as a warm-started trainer writes it: the candidate and the model it started from."""
  model = standard_artifacts.Model()
  model.uri, model.id = str(tmp_path / name), model_id
  shutil.copytree(candidate_dir, os.path.join(model.uri, 'Format-Serving'))
  shutil.copytree(start_dir, model_artifact.start_model_dir(model.uri))
  return model


def _push(model, blessing, destination, tmp_path, fallback):
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / 'pushed_model')
  push_destination = proto_utils.proto_to_json(pusher_pb2.PushDestination(
      filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(destination))))
  context = pusher_executor.Executor.Context(tmp_dir=str(tmp_path / 'push_tmp'))
  pusher_executor.Executor(context).Do({'model': [model], 'model_blessing': [blessing]}, {'pushed_model': [pushed]},
                                       {'push_destination': push_destination,
                                        'custom_config': json.dumps({'fallback_to_start_model': fallback})})
  return pushed


def _fingerprint(folder):
  with open(os.path.join(folder, 'fingerprint.pb'), 'rb') as f:
    return f.read()


def test_a_candidate_worse_than_its_start_model_is_refused_and_the_start_model_is_pushed(artifacts, tmp_path):
  """The gate compares the candidate with the model it started from (`Start-Serving`) on the same examples; with
  `push.fallback_to_start_model` the pusher then serves the start model's own colours, never the worse one."""
  config, examples, trained = artifacts
  # The start model colours hues, the candidate paints no colour at all: worse by construction.
  models = {'strong': trained['strong'], 'gray': _constant_model(tmp_path, 'gray', (0.0, 0.0), 23)}
  scores = {name: evaluate(config, examples, models[name], None, tmp_path / name, **LOOSE)[2]['candidate']
            for name in models}
  hi, lo = 'strong', 'gray'
  assert scores[hi]['hue_recall'] > scores[lo]['hue_recall'] + 0.01, scores
  serving = {name: os.path.join(m.uri, 'Format-Serving') for name, m in models.items()}
  worse = _model_with_start(tmp_path, 'worse', serving[lo], serving[hi], 31)
  # A latest blessed model is also given: the start model wins as the baseline.
  _, blessing, report = evaluate(config, examples, worse, models[lo], tmp_path / 'c',
                                 max_psnr_regression=100.0, max_colorfulness_regression=100.0, **LOOSE)
  assert report['baseline_kind'] == 'start'
  assert report['baseline']['hue_recall'] == pytest.approx(scores[hi]['hue_recall'])
  assert not report['blessed'] and any('max_hue_recall_regression' in r for r in report['reasons']), report
  assert report['start_blessed'] and blessing.get_int_custom_property('start_model_blessed') == 1
  assert 'start model' in open(tmp_path / 'c' / 'evaluation' / 'report.html').read()

  refused = _push(worse, blessing, tmp_path / 'off', tmp_path / 'p0', fallback=False)
  assert refused.get_int_custom_property('pushed') == 0 and not os.path.exists(tmp_path / 'off')
  fallback = _push(worse, blessing, tmp_path / 'serving', tmp_path / 'p1', fallback=True)
  assert fallback.get_int_custom_property('pushed') == 1
  assert fallback.get_string_custom_property('pushed_model_source') == 'start'
  (version,) = os.listdir(tmp_path / 'serving')
  assert _fingerprint(tmp_path / 'serving' / version) == _fingerprint(serving[hi])

  better = _model_with_start(tmp_path, 'better', serving[hi], serving[lo], 32)
  _, blessing, report = evaluate(config, examples, better, None, tmp_path / 'd', max_psnr_regression=100.0,
                                 max_colorfulness_regression=100.0, **LOOSE)
  assert report['blessed'] and report['baseline_kind'] == 'start', report['reasons']
  pushed = _push(better, blessing, tmp_path / 'serving2', tmp_path / 'p2', fallback=True)
  assert pushed.get_string_custom_property('pushed_model_source') == 'candidate'
  (version,) = os.listdir(tmp_path / 'serving2')
  assert _fingerprint(tmp_path / 'serving2' / version) == _fingerprint(serving[hi])


def test_a_start_model_that_fails_the_gate_itself_is_not_pushed(artifacts, tmp_path):
  config, examples, models = artifacts
  serving = {name: os.path.join(m.uri, 'Format-Serving') for name, m in models.items()}
  model = _model_with_start(tmp_path, 'both_bad', serving['weak'], serving['strong'], 33)
  _, blessing, report = evaluate(config, examples, model, None, tmp_path / 'e', **{**LOOSE, 'min_delta_psnr': 50.0})
  assert not report['blessed'] and not report['start_blessed']
  assert any('min_delta_psnr' in r for r in report['start_reasons'])
  pushed = _push(model, blessing, tmp_path / 'serving', tmp_path / 'p', fallback=True)
  assert pushed.get_int_custom_property('pushed') == 0 and not os.path.exists(tmp_path / 'serving')
