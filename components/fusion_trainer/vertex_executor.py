"""Sends FusionTrainer's work to a Vertex AI custom job with several worker pools (MultiWorkerMirroredStrategy).

TFX's `google_cloud_ai_platform` runner starts the job; each replica runs our Executor through TFX's
`run_executor` entry point, and Vertex sets CLUSTER_SPEC (`workerpool0` = chief, `workerpool1` = workers), which
`trainer.distribute` turns into TF_CONFIG. Needs `google-cloud-aiplatform` in the pipeline image.
"""

from __future__ import annotations

import json
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_executor

import configs

EXECUTOR_CLASS_PATH = 'components.fusion_trainer.executor.Executor'


def custom_job_args(runner: configs.RunnerConfig) -> dict[str, Any]:
  """Vertex CustomJob spec: one chief pool and (worker_count - 1) workers, same machine and image."""
  machine = {'machine_type': runner.trainer_machine_type}
  if runner.trainer_accelerator_type and runner.trainer_accelerator_count:
    machine['accelerator_type'] = runner.trainer_accelerator_type
    machine['accelerator_count'] = runner.trainer_accelerator_count
  container = {'image_uri': runner.container_image}
  pools = [{'machine_spec': machine, 'replica_count': 1, 'container_spec': container}]
  if runner.trainer_worker_count > 1:
    pools.append({'machine_spec': machine, 'replica_count': runner.trainer_worker_count - 1,
                  'container_spec': container})
  return {'project': runner.gcp_project, 'worker_pool_specs': pools}


class Executor(base_executor.BaseExecutor):
  """Starts the Vertex custom job and waits for it (same inputs/outputs as the local executor)."""

  def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
         exec_properties: dict[str, Any]) -> None:
    from tfx.extensions.google_cloud_ai_platform import runner  # pylint: disable=g-import-not-at-top
    custom = json.loads(exec_properties.get('custom_config') or '{}')
    config = configs.config_from_dict(custom.get('config', {}))
    runner.start_cloud_training(input_dict, output_dict, exec_properties, EXECUTOR_CLASS_PATH,
                                custom_job_args(config.runner), job_id=None, enable_vertex=True,
                                vertex_region=config.runner.gcp_region)
