"""The compiled Vertex pipeline JSON run task by task as Vertex runs it (pipeline.run_vertex_local): each task's
container command through TFX's Kubeflow V2 entrypoint with the ExecutorInput Vertex passes, the baseline resolver
answered from the previous run's artifacts, and the cache on an unchanged second run."""

import json
import os

import pytest

import configs
from dataset import inputs
from pipeline import run_vertex
from pipeline import run_vertex_local
from tests.conftest import copy_sample_photos
from tests.conftest import tiny_pipeline_overrides


@pytest.fixture(scope='module')
def two_runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('vertex_local')
  photos = copy_sample_photos(root / 'photos', 8)
  config = configs.load_config(overrides=[
      'runner.kind=vertex', *tiny_pipeline_overrides(photos), 'data.photo_pool=thread',
      f'runner.pipeline_root={root / "pipeline_root"}', f'push.destination={root / "serving_model"}'])
  pipeline_json = run_vertex.compile_pipeline(config, str(root / 'pipeline.json'),
                                              input_fingerprint=inputs.fingerprint(config.data.input_uri),
                                              train_steps=2)
  first = run_vertex_local.run(pipeline_json, timeout_s=600)
  second = run_vertex_local.run(pipeline_json, timeout_s=600)
  return config, first, second


def test_runs_the_compiled_pipeline_and_pushes_a_model(two_runs):
  config, first, _ = two_runs
  assert first.states == {'LabExampleGen': 'SUCCEEDED', 'ColorizerTrainer': 'SUCCEEDED',
                          'latest_blessed_model_resolver-model-blessing-resolver': 'RESOLVED',
                          'latest_blessed_model_resolver-model-resolver': 'RESOLVED',
                          'ColorizationEvaluator': 'SUCCEEDED', 'Pusher': 'SUCCEEDED'}
  examples = first.outputs['LabExampleGen']['examples'][0]
  assert json.loads(examples['metadata']['split_names']) == ['eval', 'train']
  model = first.outputs['ColorizerTrainer']['model'][0]
  assert os.path.exists(os.path.join(model['uri'], 'Format-Serving', 'saved_model.pb'))
  blessing = first.outputs['ColorizationEvaluator']['blessing'][0]
  assert blessing['metadata']['blessed'] == 1 and blessing['metadata']['current_model_id'] == model['name']
  assert first.outputs['latest_blessed_model_resolver-model-resolver']['model'] == []  # nothing blessed before
  pushed = first.outputs['Pusher']['pushed_model'][0]['metadata']
  assert pushed['pushed'] == 1
  versions = [v for v in os.listdir(config.push.destination) if v.isdigit()]
  assert len(versions) == 1
  assert os.path.exists(os.path.join(config.push.destination, versions[0], 'saved_model.pb'))


def test_second_run_is_cached_and_resolves_the_baseline(two_runs):
  _, first, second = two_runs
  assert second.states['LabExampleGen'] == 'CACHED' and second.states['ColorizerTrainer'] == 'CACHED'
  assert second.states['ColorizationEvaluator'] == 'SUCCEEDED'  # its baseline input changed
  baseline = second.outputs['latest_blessed_model_resolver-model-resolver']['model']
  assert [a['name'] for a in baseline] == [first.outputs['ColorizerTrainer']['model'][0]['name']]
  assert second.outputs['Pusher']['pushed_model'][0]['metadata'].get('already_pushed') == 1
