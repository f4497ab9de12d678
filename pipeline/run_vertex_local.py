"""A local stand-in for Vertex AI Pipelines: runs the compiled pipeline JSON task by task, the way Vertex does.

    python -m pipeline.run_vertex --config=configs/local.yaml --output=pipeline.json --fingerprint_inputs
    python -m pipeline.run_vertex_local pipeline.json [--pipeline_root=outputs/vertex_local] [--no_cache]

What it does with the JSON (`pipelineSpec` strictly parsed into KFP's `PipelineSpec` first):
- Tasks run in dependency order (`dependentTasks` and the producers of their input artifacts).
- A container task runs its executor's `command` + `args` as a local process (same Python, this repo; the image
  is not pulled), with `{{$}}` replaced by the ExecutorInput JSON Vertex passes: input parameters (both
  `parameterValues` and the legacy `parameters`, which TFX's Kubeflow V2 entrypoint reads), input artifacts as the
  producers reported them, output artifacts with URIs `<pipeline_root>/<run>/<task>/<key>` and the
  `outputFile` (`executor_output.json`) whose artifacts' metadata the next tasks and the resolvers see.
- A resolver task evaluates its `outputArtifactQueries` filters (`schema_title=..`, `state=LIVE`,
  `metadata.<key>.number_value=..`, `name=".."`, with `{{$.inputs.artifacts[..].metadata[..]}}` placeholders) over
  every artifact earlier runs and this one produced (kept in `<pipeline_root>/_metadata/artifacts.json`, the
  stand-in for Vertex ML Metadata) and returns the newest match, or nothing.
- An importer task yields its artifact URI as an artifact.
- Caching (tasks with `cachingOptions.enableCache`): a task whose executor, component, parameters and input
  artifacts are identical to an earlier successful execution is not run; its outputs are reused (Vertex's rule).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
from typing import Any, Sequence

from absl import app
from absl import flags
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

FLAGS = flags.FLAGS
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PLACEHOLDER = re.compile(r"\{\{\$\.inputs\.artifacts\['([^']+)'\]\.metadata\['([^']+)'\]\}\}")


def define_flags() -> None:
  flags.DEFINE_string('pipeline_root', None, "Root of the artifacts (default: the JSON's gcsOutputDirectory).")
  flags.DEFINE_bool('cache', True, 'Reuse the outputs of identical earlier task executions.')


class TaskFailed(RuntimeError):
  """A task's process exited with an error."""


@dataclasses.dataclass
class RunResult:
  run_id: str
  states: dict[str, str]                               # task -> SUCCEEDED / CACHED / SKIPPED (resolver: RESOLVED)
  outputs: dict[str, dict[str, list[dict[str, Any]]]]  # task -> output key -> runtime artifacts


def load_spec(pipeline_json: str) -> tuple[dict[str, Any], dict[str, Any]]:
  with open(pipeline_json, encoding='utf-8') as f:
    job = json.load(f)
  json_format.ParseDict(job['pipelineSpec'], pipeline_spec_pb2.PipelineSpec())  # strict: unknown fields fail
  return job, job['pipelineSpec']


def _order(tasks: dict[str, Any]) -> list[str]:
  deps = {name: set(task.get('dependentTasks', [])) |
          {a['taskOutputArtifact']['producerTask'] for a in task.get('inputs', {}).get('artifacts', {}).values()
           if 'taskOutputArtifact' in a} for name, task in tasks.items()}
  order, done = [], set()
  while len(order) < len(tasks):
    ready = sorted(n for n in tasks if n not in done and deps[n] <= done)
    if not ready:
      raise ValueError(f'cycle among tasks {sorted(set(tasks) - done)}')
    order += ready
    done.update(ready)
  return order


def _schema_title(artifact_type: dict[str, Any]) -> str:
  if 'schemaTitle' in artifact_type:
    return artifact_type['schemaTitle']
  for line in artifact_type.get('instanceSchema', '').splitlines():
    if line.startswith('title:'):
      return line.split(':', 1)[1].strip()
  return 'system.Artifact'


def _parameter_value(spec: dict[str, Any], runtime: dict[str, Any]) -> Any:
  if 'runtimeValue' in spec:
    value = spec['runtimeValue']
    if 'constant' in value:
      return value['constant']
    constant = value['constantValue']
    return next(iter(constant.values()))
  if 'componentInputParameter' in spec:
    return runtime.get('parameterValues', {})[spec['componentInputParameter']]
  raise ValueError(f'unsupported parameter source {spec}')


def _legacy(value: Any) -> dict[str, Any]:
  if isinstance(value, bool) or isinstance(value, str):
    return {'stringValue': value if isinstance(value, str) else json.dumps(value)}
  if isinstance(value, int):
    return {'intValue': str(value)}
  if isinstance(value, float):
    return {'doubleValue': value}
  return {'stringValue': json.dumps(value)}


class _Store:
  """The stand-in for Vertex ML Metadata: every artifact produced (with its metadata) and the execution cache."""

  def __init__(self, root: str):
    self.path = os.path.join(root, '_metadata', 'artifacts.json')
    self.data = {'artifacts': [], 'cache': {}}
    if os.path.exists(self.path):
      with open(self.path, encoding='utf-8') as f:
        self.data = json.load(f)

  def save(self) -> None:
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    with open(self.path + '.tmp', 'w', encoding='utf-8') as f:
      json.dump(self.data, f, indent=1, sort_keys=True)
    os.replace(self.path + '.tmp', self.path)

  def record(self, artifact: dict[str, Any]) -> None:
    self.data['artifacts'].append({**artifact, 'state': 'LIVE', 'createTime': len(self.data['artifacts'])})

  def query(self, condition: str) -> list[dict[str, Any]]:
    clauses = [c.strip() for c in condition.split(' AND ')]
    matches = [a for a in self.data['artifacts'] if all(_matches(a, c) for c in clauses)]
    return sorted(matches, key=lambda a: a['createTime'])[-1:]


def _matches(artifact: dict[str, Any], clause: str) -> bool:
  key, _, value = clause.partition('=')
  key, value = key.strip(), value.strip().strip('"')
  if key == 'schema_title':
    return artifact['type'].get('schemaTitle') == value
  if key == 'state':
    return artifact.get('state') == value
  if key == 'name':
    return artifact['name'] == value
  if key.startswith('metadata.'):
    field, kind = key[len('metadata.'):].rsplit('.', 1)
    actual = artifact.get('metadata', {}).get(field)
    if actual is None:
      return False
    if kind == 'number_value':
      return float(actual) == float(value)
    return str(actual) == value
  raise ValueError(f'unsupported filter clause {clause!r}')


def run(pipeline_json: str, pipeline_root: str | None = None, *, enable_cache: bool = True,
        env: dict[str, str] | None = None, timeout_s: float | None = None) -> RunResult:
  """Runs every task of the compiled pipeline; raises TaskFailed naming the first task that fails."""
  job, spec = load_spec(pipeline_json)
  runtime = job.get('runtimeConfig', {})
  root = os.path.abspath(pipeline_root or runtime['gcsOutputDirectory'])
  run_id = f'{spec["pipelineInfo"]["name"]}-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d%H%M%S%f}'
  store = _Store(root)
  tasks = spec['root']['dag']['tasks']
  executors = spec['deploymentSpec']['executors']
  outputs: dict[str, dict[str, list[dict[str, Any]]]] = {}
  states: dict[str, str] = {}
  process_env = {**os.environ, **(env or {})}
  process_env['PYTHONPATH'] = os.pathsep.join([REPO, process_env.get('PYTHONPATH', '')]).rstrip(os.pathsep)
  for name in _order(tasks):
    task = tasks[name]
    component = spec['components'][task['componentRef']['name']]
    executor = executors[component['executorLabel']]
    inputs = task.get('inputs', {})
    in_artifacts = {}
    for key, source in inputs.get('artifacts', {}).items():
      producer = source['taskOutputArtifact']
      artifacts = outputs.get(producer['producerTask'], {}).get(producer['outputArtifactKey'], [])
      if artifacts:
        in_artifacts[key] = artifacts
    parameters = {key: _parameter_value(value, runtime) for key, value in inputs.get('parameters', {}).items()}
    out_defs = component.get('outputDefinitions', {}).get('artifacts', {})

    if 'resolver' in executor:
      result = {}
      for key, query in executor['resolver']['outputArtifactQueries'].items():
        condition = _PLACEHOLDER.sub(
            lambda m: str(in_artifacts[m.group(1)][0].get('metadata', {}).get(m.group(2), '')) if m.group(1) in
            in_artifacts else '', query['filter'])
        result[key] = [{k: v for k, v in a.items() if k not in ('state', 'createTime')} for a in store.query(condition)]
      outputs[name], states[name] = result, 'RESOLVED'
      continue
    if 'importer' in executor:
      importer = executor['importer']
      uri = _parameter_value(importer['artifactUri'], runtime) if 'runtimeValue' in importer['artifactUri'] \
          else importer['artifactUri']['constantValue']['stringValue']
      artifact = {'name': f'local/metadataStores/default/artifacts/{run_id}/{name}/artifact', 'uri': uri, 'type': {'schemaTitle': _schema_title(importer['typeSchema'])},
                  'metadata': importer.get('metadata', {})}
      store.record(artifact)
      outputs[name], states[name] = {'artifact': [artifact]}, 'IMPORTED'
      continue

    container = executor['container']
    cache_key = hashlib.sha256(json.dumps(
        {'executor': executor, 'component': component, 'parameters': parameters,
         'inputs': {k: [a['name'] for a in v] for k, v in in_artifacts.items()}}, sort_keys=True).encode()).hexdigest()
    if enable_cache and task.get('cachingOptions', {}).get('enableCache') and cache_key in store.data['cache']:
      outputs[name], states[name] = store.data['cache'][cache_key], 'CACHED'
      print(f'[{name}] cached', flush=True)
      continue
    task_root = os.path.join(root, run_id, name)
    out_artifacts = {}
    for key, definition in out_defs.items():
      artifact = {'name': f'local/metadataStores/default/artifacts/{run_id}/{name}/{key}',
                  'uri': os.path.join(task_root, key), 'type': {'schemaTitle': _schema_title(
                      definition['artifactType'])}, 'metadata': {}}
      out_artifacts[key] = [artifact]
    executor_input = {
        'inputs': {
            'parameterValues': parameters,
            'parameters': {k: _legacy(v) for k, v in parameters.items()},
            'artifacts': {k: {'artifacts': v} for k, v in in_artifacts.items()},
        },
        'outputs': {
            'artifacts': {k: {'artifacts': v} for k, v in out_artifacts.items()},
            'outputFile': os.path.join(task_root, 'executor_output.json'),
        },
    }
    json_format.ParseDict(executor_input, pipeline_spec_pb2.ExecutorInput())  # what Vertex would send: valid
    command = list(container['command'])
    if command and os.path.basename(command[0]).startswith('python'):
      command[0] = sys.executable
    args = [json.dumps(executor_input) if a == '{{$}}' else a for a in container.get('args', [])]
    os.makedirs(task_root, exist_ok=True)
    log_path = os.path.join(task_root, 'log.txt')
    print(f'[{name}] running (log: {log_path})', flush=True)
    with open(log_path, 'w', encoding='utf-8') as log:
      process = subprocess.run(command + args, cwd=REPO, env=process_env, stdout=log, stderr=subprocess.STDOUT,
                               timeout=timeout_s, check=False)
    if process.returncode:
      with open(log_path, encoding='utf-8', errors='replace') as f:
        tail = f.read()[-3000:]
      raise TaskFailed(f'task {name} failed with exit status {process.returncode}; log {log_path}:\n{tail}')
    with open(executor_input['outputs']['outputFile'], encoding='utf-8') as f:
      reported = json.load(f).get('artifacts', {})
    for key, artifacts in out_artifacts.items():
      for artifact, written in zip(artifacts, reported.get(key, {}).get('artifacts', [])):
        artifact['metadata'] = written.get('metadata', {})
        store.record(artifact)
    outputs[name], states[name] = out_artifacts, 'SUCCEEDED'
    store.data['cache'][cache_key] = out_artifacts
    store.save()
  store.save()
  return RunResult(run_id, states, outputs)


def main(argv: Sequence[str]) -> None:
  if len(argv) != 2:
    raise app.UsageError('usage: python -m pipeline.run_vertex_local <pipeline.json> [--pipeline_root=DIR]')
  result = run(argv[1], FLAGS.pipeline_root, enable_cache=FLAGS.cache)
  for name, state in result.states.items():
    print(f'{name}: {state}')


def console_main() -> None:
  define_flags()
  app.run(main)


if __name__ == '__main__':
  console_main()
