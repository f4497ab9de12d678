"""Submits the compiled pipeline JSON (the one `pipeline.run_vertex` writes) to a Kubeflow Pipelines host (the
open-source backend, KFP v2 API), as one run or as a recurring run.

    python -m pipeline.run_vertex --config=configs/gcp.yaml --output=colorization_pipeline.json     # compile once
    python -m pipeline.run_kubeflow --host=https://kfp.example.com --pipeline_json=colorization_pipeline.json
    python -m pipeline.run_kubeflow --host=... --pipeline_json=... --schedule --cron='0 3 * * 1'

The JSON is a Vertex `PipelineJob` document: `pipelineSpec` (the KFP `PipelineSpec`, identical for both backends)
plus `runtimeConfig` (pipeline root, parameter values). `kfp.Client` takes a pipeline *package* (a YAML file holding
the bare PipelineSpec), so the spec is extracted into one beside the JSON, the pipeline root is passed on, and the
run goes through `kfp.Client(host).create_run_from_pipeline_package(...)` or, with --schedule,
`kfp.Client(host).create_recurring_run(...)`. Cron expressions in the config are the usual 5 fields; KFP wants 6
(seconds first), so a 5-field one gets a leading `0`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from absl import app
from absl import flags
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string('host', None, 'Kubeflow Pipelines API endpoint, e.g. https://kfp.example.com or '
                      'http://localhost:8080 after `kubectl port-forward svc/ml-pipeline-ui 8080:80`.')
  flags.DEFINE_string('pipeline_json', 'colorization_pipeline.json', 'The compiled pipeline (pipeline.run_vertex).')
  flags.DEFINE_string('experiment', 'colorization', 'KFP experiment the run or recurring run belongs to.')
  flags.DEFINE_string('namespace', None, 'Kubernetes namespace (multi-user deployments only).')
  flags.DEFINE_string('pipeline_root', None, "Override of the JSON's pipeline root (runtimeConfig.gcsOutputDirectory).")
  flags.DEFINE_bool('schedule', False, 'Create a recurring run on --cron instead of one run.')
  flags.DEFINE_string('cron', '', 'Cron schedule for --schedule (5 or 6 fields).')
  flags.DEFINE_string('run_name', None, 'Name of the run / recurring run (default: the pipeline name).')
  flags.mark_flag_as_required('host')


def load_pipeline_job(path: str) -> dict[str, Any]:
  """The compiled PipelineJob JSON, with `pipelineSpec` strictly parsed (an unknown field fails here)."""
  with open(path, encoding='utf-8') as f:
    job = json.load(f)
  if 'pipelineSpec' not in job:
    raise ValueError(f'{path}: not a compiled pipeline job (no pipelineSpec)')
  json_format.ParseDict(job['pipelineSpec'], pipeline_spec_pb2.PipelineSpec())  # ignore_unknown_fields=False
  return job


def write_package(job: dict[str, Any], pipeline_json: str) -> str:
  """Writes the bare PipelineSpec as the `.yaml` package kfp.Client reads (JSON is YAML); returns its path."""
  package = os.path.splitext(pipeline_json)[0] + '.kfp.yaml'
  with open(package, 'w', encoding='utf-8') as f:
    json.dump(job['pipelineSpec'], f, indent=2, sort_keys=True)
  return package


def kfp_cron(cron: str) -> str:
  """KFP's cron has a seconds field first: '0 3 * * 1' -> '0 0 3 * * 1'; 6-field expressions pass unchanged."""
  fields = cron.split()
  if len(fields) == 5:
    return ' '.join(['0', *fields])
  if len(fields) == 6:
    return cron
  raise ValueError(f'cron {cron!r}: expected 5 or 6 fields')


def submit(client, pipeline_json: str, *, experiment: str = 'colorization', namespace: str | None = None,
           pipeline_root: str | None = None, schedule: bool = False, cron: str = '',
           run_name: str | None = None) -> Any:
  """Submits the compiled pipeline through `client` (a `kfp.Client`): one run, or a recurring run on `cron`."""
  job = load_pipeline_job(pipeline_json)
  package = write_package(job, pipeline_json)
  runtime = job.get('runtimeConfig', {})
  root = pipeline_root or runtime.get('gcsOutputDirectory')
  arguments = runtime.get('parameterValues') or None
  name = run_name or job['pipelineSpec']['pipelineInfo']['name']
  if not schedule:
    return client.create_run_from_pipeline_package(
        package, arguments=arguments, run_name=name, experiment_name=experiment, namespace=namespace,
        pipeline_root=root)
  if not cron:
    raise ValueError('--schedule needs a cron expression (--cron or runner.schedule_cron)')
  experiment_id = client.create_experiment(name=experiment, namespace=namespace).experiment_id
  return client.create_recurring_run(
      experiment_id=experiment_id, job_name=f'{name}-schedule', cron_expression=kfp_cron(cron),
      pipeline_package_path=package, params=arguments, pipeline_root=root, max_concurrency=1, no_catchup=True)


def main(argv: Sequence[str]) -> None:
  del argv
  # Lazy: kfp (requirements/cloud.lock) only when a run is submitted.
  import kfp  # pylint: disable=g-import-not-at-top
  client = kfp.Client(host=FLAGS.host, namespace=FLAGS.namespace)
  result = submit(client, FLAGS.pipeline_json, experiment=FLAGS.experiment, namespace=FLAGS.namespace,
                  pipeline_root=FLAGS.pipeline_root, schedule=FLAGS.schedule, cron=FLAGS.cron,
                  run_name=FLAGS.run_name)
  print(f'Submitted to {FLAGS.host}: {getattr(result, "run_id", None) or getattr(result, "recurring_run_id", result)}')


def console_main() -> None:
  define_flags()
  app.run(main)


if __name__ == '__main__':
  console_main()
