"""Compiles the same pipeline for Vertex AI Pipelines (KubeflowV2DagRunner) and submits or schedules it.

    python -m pipeline.run_vertex --config=configs/gcp.yaml --output=colorization_pipeline.json           # compile
    python -m pipeline.run_vertex --config=configs/gcp.yaml --submit                                       # + run
    python -m pipeline.run_vertex --config=configs/gcp.yaml --submit --schedule                            # + cron

`KubeflowV2DagRunner.run()` only writes the pipeline JSON; submission is a separate step with
`google.cloud.aiplatform.PipelineJob` (install `google-cloud-aiplatform` where you submit from). Each component
runs in `runner.container_image` (see the Dockerfile); the trainer gets `runner.trainer_*` resources.
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
from pipeline import create_pipeline

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so several commands share one process."""
  flags.DEFINE_string('output', 'colorization_pipeline.json', 'Where the compiled pipeline JSON goes.')
  flags.DEFINE_bool('submit', False, 'Submit the compiled pipeline to Vertex AI Pipelines.')
  flags.DEFINE_bool('schedule', False, "With --submit: create a schedule from runner.schedule_cron instead of one run.")


_ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec


def trainer_resources(runner: configs.RunnerConfig) -> _ResourceSpec:
  spec = _ResourceSpec(cpu_limit=8.0, memory_limit=32.0)
  if runner.trainer_accelerator_type and runner.trainer_accelerator_count:
    spec.accelerator.type = runner.trainer_accelerator_type
    spec.accelerator.count = runner.trainer_accelerator_count
  return spec


def compile_pipeline(config: configs.PipelineConfig, output: str) -> str:
  """Writes the Vertex pipeline JSON for `config` to `output`; returns the path."""
  pipeline = create_pipeline.create_pipeline(config, beam_pipeline_args=beam_options.beam_args(config.runner))
  for component in pipeline.components:
    if component.id == 'FusionTrainer':
      component.with_platform_config(trainer_resources(config.runner))
  runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
      config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=config.runner.container_image),
      output_filename=output)
  runner.run(pipeline, write_out=True)
  return output


def submit(config: configs.PipelineConfig, pipeline_json: str, schedule: bool) -> None:
  try:
    from google.cloud import aiplatform  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise SystemExit('submitting needs google-cloud-aiplatform: pip install google-cloud-aiplatform') from e
  aiplatform.init(project=config.runner.gcp_project, location=config.runner.gcp_region)
  job = aiplatform.PipelineJob(display_name=config.runner.pipeline_name, template_path=pipeline_json,
                               pipeline_root=config.runner.pipeline_root, enable_caching=True)
  if schedule:
    if not config.runner.schedule_cron:
      raise SystemExit('runner.schedule_cron is empty')
    job.create_schedule(display_name=f'{config.runner.pipeline_name}-schedule', cron=config.runner.schedule_cron)
  else:
    job.submit()


def main(argv: Sequence[str]) -> None:
  del argv
  config = config_flags.config_from_flags()
  path = compile_pipeline(config, FLAGS.output)
  print(f'Compiled {path}')
  if FLAGS.submit:
    submit(config, path, FLAGS.schedule)


def console_main() -> None:
  define_flags()
  app.run(main)


if __name__ == '__main__':
  console_main()
