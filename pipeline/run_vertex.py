"""Compiles the same pipeline for Vertex AI Pipelines (KubeflowV2DagRunner) and submits or schedules it.

    python -m pipeline.run_vertex --config=configs/gcp.yaml --output=colorization_pipeline.json           # compile
    python -m pipeline.run_vertex --config=configs/gcp.yaml --submit                                       # + run
    python -m pipeline.run_vertex --config=configs/gcp.yaml --submit --schedule                            # + cron

`KubeflowV2DagRunner.run()` only writes the pipeline JSON; submission is a separate step with
`google.cloud.aiplatform.PipelineJob` (pinned in requirements/cloud.lock). Each component runs in
`runner.container_image` (see the Dockerfile); the trainer task gets `runner.trainer_*` resources, or the
`runner.launcher_*` ones (no accelerator) when it only launches a multi-worker custom job. The same JSON runs on
Kubeflow Pipelines (`pipeline.run_kubeflow`) and locally, task by task as Vertex runs it
(`pipeline.run_vertex_local`).
"""

from __future__ import annotations

from typing import Sequence

from absl import app
from absl import flags
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

import configs
from configs import flags as config_flags
from contracts import beam_options
from dataset import inputs
from pipeline import create_pipeline

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so several commands share one process."""
  flags.DEFINE_string('output', 'colorization_pipeline.json', 'Where the compiled pipeline JSON goes.')
  flags.DEFINE_bool('submit', False, 'Submit the compiled pipeline to Vertex AI Pipelines.')
  flags.DEFINE_bool('schedule', False, "With --submit: create a schedule from runner.schedule_cron instead of one run.")
  flags.DEFINE_bool('fingerprint_inputs', False, 'Compute the input fingerprint now (lists data.input_uri) so new '
                    'photos invalidate the example gen cache; off by default (a scheduled JSON is compiled once).')


_ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec


def _resource_spec(cpu: float, memory_gb: float, accelerator_type: str = '', accelerator_count: int = 0
                   ) -> _ResourceSpec:
  """A task's resources as KFP's ResourceSpec (TFX's supported way: `component.with_platform_config(spec)`).

  Both forms KFP's own compiler writes: the numeric `cpu_limit`/`memory_limit` (GB) and the string
  `resource_cpu_limit`/`resource_memory_limit` (`8`, `32G`); 0 leaves the platform default.
  """
  spec = _ResourceSpec()
  if cpu:
    spec.cpu_limit = cpu
    spec.resource_cpu_limit = f'{cpu:g}'
  if memory_gb:
    spec.memory_limit = memory_gb
    spec.resource_memory_limit = f'{memory_gb:g}G'
  if accelerator_type and accelerator_count > 0:
    spec.accelerator.type = accelerator_type
    spec.accelerator.count = accelerator_count
    spec.accelerator.resource_type = accelerator_type
    spec.accelerator.resource_count = str(accelerator_count)
  return spec


def trainer_resources(runner: configs.RunnerConfig) -> _ResourceSpec:
  """The ColorizerTrainer task's resources.

  One replica: the task trains, so it gets the trainer's CPU, memory and accelerators. Several replicas: the task
  only launches and polls the Vertex custom job (whose pools get the machines and accelerators,
  `vertex_executor.custom_job_args`), so it gets the launcher's CPU and memory and no accelerator.
  """
  if runner.trainer_worker_count > 1:
    return _resource_spec(runner.launcher_cpu_limit, runner.launcher_memory_limit_gb)
  return _resource_spec(runner.trainer_cpu_limit, runner.trainer_memory_limit_gb, runner.trainer_accelerator_type,
                        runner.trainer_accelerator_count)


def compile_pipeline(config: configs.PipelineConfig, output: str, *, input_fingerprint: str = '',
                     train_steps: int = 0) -> str:
  """Writes the Vertex pipeline JSON for `config` to `output`; returns the path."""
  pipeline = create_pipeline.create_pipeline(config, beam_pipeline_args=beam_options.beam_args(config.runner),
                                             input_fingerprint=input_fingerprint, train_steps=train_steps)
  for component in pipeline.components:
    if component.id == 'ColorizerTrainer':
      component.with_platform_config(trainer_resources(config.runner))
  runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
      config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=config.runner.container_image or "local"),
      output_filename=output)
  runner.run(pipeline, write_out=True)
  return output


def pipeline_job(config: configs.PipelineConfig, pipeline_json: str, *, credentials=None, enable_caching: bool = True):
  """The `aiplatform.PipelineJob` for the compiled JSON (built offline; nothing is sent until submit())."""
  from google.cloud import aiplatform  # pylint: disable=g-import-not-at-top  (requirements/cloud.lock)
  return aiplatform.PipelineJob(
      display_name=config.runner.pipeline_name, template_path=pipeline_json,
      pipeline_root=config.runner.pipeline_root, enable_caching=enable_caching, project=config.runner.gcp_project,
      location=config.runner.gcp_region, credentials=credentials)


def submit(config: configs.PipelineConfig, pipeline_json: str, schedule: bool, *, credentials=None):
  """Submits one run (`PipelineJob.submit()`), or with `schedule` creates a Vertex schedule on
  `runner.schedule_cron` (`PipelineJob.create_schedule(...)`); returns the job or the schedule."""
  if schedule and not config.runner.schedule_cron:
    raise SystemExit('--schedule: runner.schedule_cron is empty')
  job = pipeline_job(config, pipeline_json, credentials=credentials)
  if schedule:
    return job.create_schedule(display_name=f'{config.runner.pipeline_name}-schedule',
                               cron=config.runner.schedule_cron, max_concurrent_run_count=1)
  job.submit()
  return job


def main(argv: Sequence[str]) -> None:
  del argv
  config = config_flags.config_from_flags()
  fingerprint = ''
  if FLAGS.fingerprint_inputs:
    fingerprint = inputs.fingerprint(config.data.input_uri)
  path = compile_pipeline(config, FLAGS.output, input_fingerprint=fingerprint)
  print(f'Compiled {path}')
  if FLAGS.submit:
    submit(config, path, FLAGS.schedule)


def console_main() -> None:
  define_flags()
  app.run(main)


if __name__ == '__main__':
  console_main()
