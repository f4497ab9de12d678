"""ColorizationEvaluator's executor on real artifacts: blessed, not blessed, regression against a baseline, and
no baseline."""

import json
import os

import pytest
from tfx.types import standard_artifacts

import configs
from components.colorization_evaluator import executor
from contracts import beam_options
from pipeline import build_dataset
from tests.conftest import copy_sample_photos
from trainer import train as train_lib


@pytest.fixture(scope='module')
def artifacts(tmp_path_factory):
  """A dataset with an eval split and two trained models: one barely trained, one trained longer."""
  root = tmp_path_factory.mktemp('evaluator')
  photos = copy_sample_photos(root / 'photos', 10)
  config = configs.load_config(overrides=[
      f'data.input_uri={photos}', 'data.image_size=32', 'data.split_ratios={train: 0.5, eval: 0.5}',
      'data.shards={train: 1, eval: 1}', 'data.augmentation.copies=0', 'model.variant=beta',
      'model.encoder_filters=[8, 16, 32]', 'training.batch_size_per_replica=2', 'training.learning_rate=0.003'])
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
                                {'config': json.dumps(configs.to_dict(config)), 'split': 'eval'})
  return evaluation, blessing, json.load(open(tmp_path / 'evaluation' / 'metrics.json'))


def test_blessed_without_baseline(artifacts, tmp_path):
  config, examples, models = artifacts
  evaluation, blessing, report = evaluate(config, examples, models['strong'], None, tmp_path,
                                          min_delta_psnr=-50.0, max_desaturation_rate=1.0,
                                          max_delta_colorfulness=100.0)
  assert report['blessed'] and blessing.get_int_custom_property('blessed') == 1
  assert os.path.exists(tmp_path / 'blessing' / 'BLESSED')
  assert blessing.get_int_custom_property('current_model_id') == 12
  assert blessing.get_string_custom_property('current_model') == models['strong'].uri
  assert report['baseline'] is None and 'psnr' in report['candidate']
  assert 0 < report['candidate']['rebalanced_ab_accuracy'] <= 1
  page = open(tmp_path / 'evaluation' / 'report.html').read()
  assert 'BLESSED' in page and 'samples/000.png' in page
  assert os.path.exists(tmp_path / 'evaluation' / 'samples' / '000.png')
  assert os.path.exists(tmp_path / 'evaluation' / 'loss_curves.png')


def test_not_blessed_when_an_absolute_threshold_fails(artifacts, tmp_path):
  config, examples, models = artifacts
  _, blessing, report = evaluate(config, examples, models['strong'], None, tmp_path, min_delta_psnr=50.0,
                                 max_desaturation_rate=1.0, max_delta_colorfulness=100.0)
  assert not report['blessed'] and blessing.get_int_custom_property('blessed') == 0
  assert os.path.exists(tmp_path / 'blessing' / 'NOT_BLESSED')
  assert any('min_delta_psnr' in r for r in report['reasons'])


def test_regression_against_the_baseline_is_not_blessed(artifacts, tmp_path):
  config, examples, models = artifacts
  loose = dict(min_delta_psnr=-50.0, max_desaturation_rate=1.0, max_delta_colorfulness=100.0)
  _, _, strong = evaluate(config, examples, models['strong'], None, tmp_path / 'a', **loose)
  _, _, weak = evaluate(config, examples, models['weak'], None, tmp_path / 'b', **loose)
  better, worse = (models['strong'], models['weak']) if strong['candidate']['psnr'] > weak['candidate']['psnr'] \
      else (models['weak'], models['strong'])
  _, blessing, report = evaluate(config, examples, worse, better, tmp_path / 'c', max_psnr_regression=0.0,
                                 max_colorfulness_regression=100.0, **loose)
  assert not report['blessed']
  assert any('regressed' in r for r in report['reasons'])
  assert blessing.get_int_custom_property('baseline_model_id') == better.id
  _, blessing, report = evaluate(config, examples, better, worse, tmp_path / 'd', max_psnr_regression=0.0,
                                 max_colorfulness_regression=100.0, **loose)
  assert report['blessed'], report['reasons']
