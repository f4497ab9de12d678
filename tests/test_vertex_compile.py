"""The same pipeline compiled for Vertex AI Pipelines: components, image, Beam args and trainer resources."""

import json

import configs
from pipeline import run_vertex
from tests.conftest import REPO


def test_compiles_the_gcp_pipeline_with_trainer_resources(tmp_path):
  config = configs.load_config(f'{REPO}/configs/gcp.yaml')
  path = run_vertex.compile_pipeline(config, str(tmp_path / 'pipeline.json'))
  spec = json.load(open(path))['pipelineSpec']
  tasks = spec['root']['dag']['tasks']
  for component in ('LabExampleGen', 'FusionTrainer', 'ColorizationEvaluator', 'Pusher'):
    assert component in tasks
  executors = spec['deploymentSpec']['executors']
  trainer = executors['FusionTrainer_executor']['container']
  assert trainer['image'] == config.runner.container_image
  assert trainer['resources']['accelerator'] == {'count': '2', 'type': 'NVIDIA_TESLA_T4'}
  example_gen = executors['LabExampleGen_executor']['container']
  assert '--runner=DataflowRunner' in example_gen['args']
  assert 'components.lab_example_gen.executor.Executor' in example_gen['args']
  # The baseline resolver compiles (Vertex only supports LatestBlessedModelStrategy / LatestArtifactStrategy).
  assert any('latest_blessed_model_resolver' in name for name in executors)
