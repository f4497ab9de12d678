"""The same pipeline compiled for Vertex AI Pipelines: components, image, Beam args and trainer resources."""

import json

import pytest

import configs
from pipeline import run_vertex
from tests.conftest import REPO


def test_compiles_the_gcp_pipeline_with_trainer_resources(tmp_path):
  config = configs.load_config(f'{REPO}/configs/gcp.yaml')
  path = run_vertex.compile_pipeline(config, str(tmp_path / 'pipeline.json'))
  spec = json.load(open(path))['pipelineSpec']
  tasks = spec['root']['dag']['tasks']
  for component in ('LabExampleGen', 'ColorizerTrainer', 'ColorizationEvaluator', 'Pusher'):
    assert component in tasks
  executors = spec['deploymentSpec']['executors']
  trainer = executors['ColorizerTrainer_executor']['container']
  assert trainer['image'] == config.runner.container_image
  # Two replicas: this task only launches and polls the custom job, so it asks for the launcher's CPU/memory and
  # no accelerator (the custom job's pools get the GPUs).
  assert 'accelerator' not in trainer['resources'] and trainer['resources']['cpuLimit'] == 1.0
  example_gen = executors['LabExampleGen_executor']['container']
  assert '--runner=DataflowRunner' in example_gen['args']
  assert 'components.lab_example_gen.executor.Executor' in example_gen['args']
  # Two trainer replicas: training goes to a Vertex custom job whose pools give MultiWorkerMirroredStrategy.
  assert 'components.colorizer_trainer.vertex_executor.Executor' in trainer['args']
  # The baseline resolver compiles (Vertex only supports LatestBlessedModelStrategy / LatestArtifactStrategy).
  assert any('latest_blessed_model_resolver' in name for name in executors)


def test_custom_job_has_a_chief_pool_and_worker_pools():
  from components.colorizer_trainer import vertex_executor
  config = configs.load_config(f'{REPO}/configs/gcp.yaml', ['runner.trainer_worker_count=3'])
  args = vertex_executor.custom_job_args(config.runner)
  chief, workers = args['worker_pool_specs']
  assert chief['replica_count'] == 1 and workers['replica_count'] == 2
  assert chief['machine_spec'] == {'machine_type': 'n1-standard-16', 'accelerator_type': 'NVIDIA_TESLA_T4',
                                   'accelerator_count': 2}
  assert workers['container_spec']['image_uri'] == config.runner.container_image


def _compile(tmp_path, name, overrides=()):
  config = configs.load_config(f'{REPO}/configs/gcp.yaml', list(overrides))
  path = run_vertex.compile_pipeline(config, str(tmp_path / f'{name}.json'))
  with open(path, encoding='utf-8') as f:
    return config, path, json.load(f)


def _task_and_executor(job, task):
  spec = job['pipelineSpec']
  label = spec['components'][spec['root']['dag']['tasks'][task]['componentRef']['name']]['executorLabel']
  return (json.dumps(spec['root']['dag']['tasks'][task], sort_keys=True),
          json.dumps(spec['deploymentSpec']['executors'][label], sort_keys=True))


def test_each_component_gets_only_its_config_slice(tmp_path):
  """The cache follows what matters: a quality-gate change leaves the example gen's and the trainer's compiled
  task specs byte-identical (Vertex reuses them), a model change re-trains but does not rebuild the examples."""
  _, _, base = _compile(tmp_path, 'base')
  _, _, gate = _compile(tmp_path, 'gate', ['evaluation.min_delta_psnr=0.7', 'evaluation.report_samples=3'])
  _, _, model = _compile(tmp_path, 'model', ['model.loss.kind=mse'])
  for task in ('LabExampleGen', 'ColorizerTrainer', 'Pusher'):
    assert _task_and_executor(gate, task) == _task_and_executor(base, task), task
  assert _task_and_executor(gate, 'ColorizationEvaluator') != _task_and_executor(base, 'ColorizationEvaluator')
  assert _task_and_executor(model, 'LabExampleGen') == _task_and_executor(base, 'LabExampleGen')
  assert _task_and_executor(model, 'ColorizerTrainer') != _task_and_executor(base, 'ColorizerTrainer')
  parameters = base['pipelineSpec']['root']['dag']['tasks']['LabExampleGen']['inputs']['parameters']
  assert set(json.loads(parameters['config']['runtimeValue']['constantValue']['stringValue'])) == {'data'}


def test_pipeline_json_parses_strictly_and_builds_a_pipeline_job_offline(tmp_path):
  from google.auth import credentials as auth_credentials
  from google.protobuf import json_format
  from kfp.pipeline_spec import pipeline_spec_pb2
  config, path, job = _compile(tmp_path, 'job')
  json_format.ParseDict(job['pipelineSpec'], pipeline_spec_pb2.PipelineSpec())  # unknown fields fail
  pipeline_job = run_vertex.pipeline_job(config, path, credentials=auth_credentials.AnonymousCredentials())
  request = pipeline_job._gca_resource  # pylint: disable=protected-access  (what submit() would send)
  assert request.runtime_config.gcs_output_directory == config.runner.pipeline_root
  assert set(request.pipeline_spec['root']['dag']['tasks']) == set(job['pipelineSpec']['root']['dag']['tasks'])


def test_trainer_resources_single_replica_and_launcher(tmp_path):
  config = configs.load_config(f'{REPO}/configs/gcp.yaml', ['runner.trainer_worker_count=1',
                                                            'runner.trainer_cpu_limit=12',
                                                            'runner.trainer_memory_limit_gb=48'])
  single = run_vertex.trainer_resources(config.runner)
  assert (single.cpu_limit, single.memory_limit, single.resource_memory_limit) == (12.0, 48.0, '48G')
  assert (single.accelerator.type, single.accelerator.count) == ('NVIDIA_TESLA_T4', 2)
  launcher = run_vertex.trainer_resources(configs.load_config(f'{REPO}/configs/gcp.yaml').runner)
  assert not launcher.HasField('accelerator') and launcher.cpu_limit == 1.0  # it only polls the custom job


def test_kubeflow_submission_request_is_well_formed(tmp_path):
  """kfp.Client against a fake KFP API server on 127.0.0.1: the run it creates carries the pipeline spec."""
  import http.server
  import threading
  import kfp
  from pipeline import run_kubeflow
  _, path, job = _compile(tmp_path, 'kfp')
  received = []

  class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
      pass

    def _reply(self, body):
      data = json.dumps(body).encode()
      self.send_response(200)
      self.send_header('Content-Type', 'application/json')
      self.send_header('Content-Length', str(len(data)))
      self.end_headers()
      self.wfile.write(data)

    def do_GET(self):  # pylint: disable=invalid-name
      received.append(('GET', self.path, None))
      self._reply({})

    def do_POST(self):  # pylint: disable=invalid-name
      body = json.loads(self.rfile.read(int(self.headers['Content-Length'])) or b'{}')
      received.append(('POST', self.path, body))
      if self.path.endswith('/experiments'):
        self._reply({'experiment_id': 'exp-1', 'display_name': body.get('display_name')})
      elif self.path.endswith('/recurringruns'):
        self._reply({'recurring_run_id': 'rr-1', 'display_name': body.get('display_name')})
      else:
        self._reply({'run_id': 'run-1', 'display_name': body.get('display_name')})

  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  try:
    client = kfp.Client(host=f'http://127.0.0.1:{server.server_port}')
    run_kubeflow.submit(client, path)
    run_kubeflow.submit(client, path, schedule=True, cron='0 3 * * 1')
  finally:
    server.shutdown()
  runs = [body for method, url, body in received if method == 'POST' and url.endswith('/runs')]
  assert len(runs) == 1
  assert runs[0]['pipeline_spec']['root']['dag']['tasks'].keys() == job['pipelineSpec']['root']['dag']['tasks'].keys()
  assert runs[0]['runtime_config']['pipeline_root'] == job['runtimeConfig']['gcsOutputDirectory']
  recurring = [body for method, url, body in received if method == 'POST' and url.endswith('/recurringruns')]
  assert recurring[0]['trigger']['cron_schedule']['cron'] == '0 0 3 * * 1'
  assert recurring[0]['pipeline_spec']['pipelineInfo'] == job['pipelineSpec']['pipelineInfo']


def test_the_gate_scores_the_held_out_test_split_and_an_empty_one_is_refused(tmp_path):
  """The trainer chooses its decoding on eval; the evaluator's slice names test, and a pipeline whose data leaves
  the gate's split empty is refused when it is built, not after the dataset build and the training."""
  _, _, job = _compile(tmp_path, 'gate_split')
  parameters = job['pipelineSpec']['root']['dag']['tasks']['ColorizationEvaluator']['inputs']['parameters']
  evaluation = json.loads(parameters['config']['runtimeValue']['constantValue']['stringValue'])['evaluation']
  assert evaluation['split'] == 'test'
  with pytest.raises(configs.ConfigError, match=r"evaluation.split: the gate scores the 'test' split"):
    _compile(tmp_path, 'no_test', ['data.split_ratios={train: 0.9, eval: 0.1}', 'data.shards={train: 2, eval: 1}'])
