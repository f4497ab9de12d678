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
  # Two trainer replicas: training goes to a Vertex custom job whose pools give MultiWorkerMirroredStrategy.
  assert 'components.fusion_trainer.vertex_executor.Executor' in trainer['args']
  # The baseline resolver compiles (Vertex only supports LatestBlessedModelStrategy / LatestArtifactStrategy).
  assert any('latest_blessed_model_resolver' in name for name in executors)


def test_custom_job_has_a_chief_pool_and_worker_pools():
  from components.fusion_trainer import vertex_executor
  config = configs.load_config(f'{REPO}/configs/gcp.yaml', ['runner.trainer_worker_count=3'])
  args = vertex_executor.custom_job_args(config.runner)
  chief, workers = args['worker_pool_specs']
  assert chief['replica_count'] == 1 and workers['replica_count'] == 2
  assert chief['machine_spec'] == {'machine_type': 'n1-standard-16', 'accelerator_type': 'NVIDIA_TESLA_T4',
                                   'accelerator_count': 2}
  assert workers['container_spec']['image_uri'] == config.runner.container_image
