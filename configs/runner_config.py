"""Where and how the pipeline runs: local or Vertex AI, Beam's runner and options, trainer resources."""

from __future__ import annotations

import dataclasses
from typing import Literal

from configs.base import ConfigError


@dataclasses.dataclass
class RunnerConfig:
  """How and where the pipeline runs.

  Attributes:
    kind: `local` (Beam's in-process runner and LocalDagRunner with SQLite ML Metadata) or `vertex`
      (Dataflow for Beam, Vertex AI Pipelines for the DAG).
    pipeline_name: Name of the TFX pipeline (also the ML Metadata context).
    pipeline_root: Root of the pipeline's artifacts (local or `gs://`).
    metadata_path: SQLite ML Metadata file for local runs.
    beam_runner: Beam runner for the dataset build and Beam components.
    direct_running_mode: `in_memory` or `multi_processing` for the local runner.
    direct_num_workers: Worker processes/threads for the local runner (0 = number of cores).
    beam_args: Extra Beam pipeline options, passed verbatim (e.g. `--temp_location=gs://...`).
    gcp_project: Google Cloud project for Dataflow and Vertex.
    gcp_region: Google Cloud region for Dataflow and Vertex.
    container_image: Image holding this project's code, for Vertex components and Dataflow workers.
    schedule_cron: Cron schedule for periodic Vertex runs; empty means run once.
    trainer_machine_type: Vertex machine type of the trainer's chief replica in a multi-worker custom job
      (`trainer_worker_count > 1`).
    trainer_accelerator_type: Vertex accelerator type of the trainer (empty for none): of the pipeline task when
      the trainer runs in it (`trainer_worker_count == 1`), of the custom job's chief otherwise.
    trainer_accelerator_count: Accelerators of the trainer (same two cases).
    trainer_cpu_limit: vCPUs of the trainer's pipeline task when it trains in it (`trainer_worker_count == 1`;
      0 = the platform default). Vertex picks the smallest machine that fits the CPU, memory and accelerators.
    trainer_memory_limit_gb: Memory (GB) of that task (0 = the platform default).
    trainer_worker_count: Trainer replicas; more than one trains with MultiWorkerMirroredStrategy in a Vertex
      custom job (one chief + `trainer_worker_count - 1` workers) started and polled by a launcher task.
    worker_machine_type: Machine type of the custom job's workers (empty = `trainer_machine_type`).
    worker_accelerator_type: Accelerator type of the workers (empty = `trainer_accelerator_type`).
    worker_accelerator_count: Accelerators per worker (-1 = `trainer_accelerator_count`).
    launcher_cpu_limit: vCPUs of the launcher task that submits and polls the multi-worker custom job (it never
      gets accelerators; 0 = the platform default).
    launcher_memory_limit_gb: Memory (GB) of the launcher task (0 = the platform default).
  """

  kind: Literal['local', 'vertex'] = 'local'
  pipeline_name: str = 'colorization'
  pipeline_root: str = 'outputs/pipeline_root'
  metadata_path: str = 'outputs/metadata.sqlite'
  beam_runner: str = 'apache_beam.runners.portability.fn_api_runner.FnApiRunner'
  direct_running_mode: Literal['in_memory', 'multi_processing', 'multi_threading'] = 'in_memory'
  direct_num_workers: int = 1
  beam_args: list[str] = dataclasses.field(default_factory=list)
  gcp_project: str = ''
  gcp_region: str = 'us-central1'
  container_image: str = ''
  schedule_cron: str = ''
  trainer_machine_type: str = 'n1-standard-8'
  trainer_accelerator_type: str = ''
  trainer_accelerator_count: int = 0
  trainer_cpu_limit: float = 8.0
  trainer_memory_limit_gb: float = 32.0
  trainer_worker_count: int = 1
  worker_machine_type: str = ''
  worker_accelerator_type: str = ''
  worker_accelerator_count: int = -1
  launcher_cpu_limit: float = 1.0
  launcher_memory_limit_gb: float = 4.0

  def validate(self) -> None:
    """Raises ConfigError naming the first key out of its range."""
    for key in ('trainer_cpu_limit', 'trainer_memory_limit_gb', 'launcher_cpu_limit', 'launcher_memory_limit_gb'):
      if getattr(self, key) < 0:
        raise ConfigError(f'runner.{key}: must be >= 0 (0 = the platform default), got {getattr(self, key)}')
    if self.trainer_worker_count < 1:
      raise ConfigError(f'runner.trainer_worker_count: must be >= 1, got {self.trainer_worker_count}')
