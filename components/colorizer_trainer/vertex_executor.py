"""Sends ColorizerTrainer's work to a Vertex AI custom job with several worker pools (MultiWorkerMirroredStrategy).

TFX's `google_cloud_ai_platform` runner starts the job; each replica runs our Executor through TFX's
`run_executor` entry point, and Vertex sets CLUSTER_SPEC (`workerpool0` = chief, `workerpool1` = workers), which
`trainer.loop.distribute` turns into TF_CONFIG. Needs `google-cloud-aiplatform` in the pipeline image.
"""

from __future__ import annotations

import json
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_executor

import configs

EXECUTOR_CLASS_PATH = 'components.colorizer_trainer.executor.Executor'
# custom_config key holding {'region': ..., 'job': custom_job_args(...)}: only the runner bits the job needs
# (not the whole RunnerConfig, so unrelated runner settings leave the trainer's cache key alone).
JOB_KEY = 'vertex_job'


def _machine(machine_type: str, accelerator_type: str, accelerator_count: int) -> dict[str, Any]:
  machine = {'machine_type': machine_type}
  if accelerator_type and accelerator_count > 0:
    machine['accelerator_type'] = accelerator_type
    machine['accelerator_count'] = accelerator_count
  return machine


def custom_job_args(runner: configs.RunnerConfig) -> dict[str, Any]:
  """Vertex CustomJob spec: one chief pool (`trainer_*`) and (worker_count - 1) workers (`worker_*`, defaulting
  to the chief's machine), same image."""
  chief = _machine(runner.trainer_machine_type, runner.trainer_accelerator_type, runner.trainer_accelerator_count)
  worker = _machine(runner.worker_machine_type or runner.trainer_machine_type,
                    runner.worker_accelerator_type or runner.trainer_accelerator_type,
                    (runner.trainer_accelerator_count if runner.worker_accelerator_count < 0
                     else runner.worker_accelerator_count))
  container = {'image_uri': runner.container_image}
  pools = [{'machine_spec': chief, 'replica_count': 1, 'container_spec': container}]
  if runner.trainer_worker_count > 1:
    pools.append({'machine_spec': worker, 'replica_count': runner.trainer_worker_count - 1,
                  'container_spec': container})
  return {'project': runner.gcp_project, 'worker_pool_specs': pools}


def job_config(runner: configs.RunnerConfig) -> dict[str, Any]:
  """What goes under custom_config[JOB_KEY]."""
  return {'region': runner.gcp_region, 'job': custom_job_args(runner)}


class Executor(base_executor.BaseExecutor):
  """Starts the Vertex custom job and waits for it (same inputs/outputs as the local executor)."""

  def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
         exec_properties: dict[str, Any]) -> None:
    # Lazy: the Vertex AI client (requirements/cloud.lock) only when a job is submitted.
    from tfx.extensions.google_cloud_ai_platform import runner  # pylint: disable=g-import-not-at-top
    custom = json.loads(exec_properties.get('custom_config') or '{}')
    if JOB_KEY not in custom:
      raise ValueError(f'custom_config has no {JOB_KEY!r} (the custom job spec); see '
                       'components.colorizer_trainer.component.trainer_custom_config')
    job = custom[JOB_KEY]
    runner.start_cloud_training(input_dict, output_dict, exec_properties, EXECUTOR_CLASS_PATH,
                                job['job'], job_id=None, enable_vertex=True, vertex_region=job['region'])
