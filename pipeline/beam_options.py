"""Beam pipeline arguments per runner, from `RunnerConfig` (one place for every Beam job and Beam component)."""

from __future__ import annotations

import os

from configs import definitions

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUP_FILE = os.path.join(PROJECT_ROOT, 'setup.py')
_LOCAL_RUNNERS = ('FnApiRunner', 'DirectRunner', 'PrismRunner')


def _is_local(runner: definitions.RunnerConfig, local_runners=_LOCAL_RUNNERS) -> bool:
  return any(runner.beam_runner.endswith(name) for name in local_runners)


def beam_args(runner: definitions.RunnerConfig) -> list[str]:
  """Command-line style Beam options for `runner` (also usable as TFX `beam_pipeline_args`)."""
  args = [f'--runner={runner.beam_runner}']
  if _is_local(runner):
    args.append(f'--direct_running_mode={runner.direct_running_mode}')
    args.append(f'--direct_num_workers={runner.direct_num_workers or os.cpu_count() or 1}')
  else:
    # Dataflow / Flink / Spark: workers install this project from its setup.py, or use the pipeline's image.
    if runner.gcp_project:
      args.append(f'--project={runner.gcp_project}')
    if runner.gcp_region:
      args.append(f'--region={runner.gcp_region}')
    if runner.container_image:
      args.append(f'--sdk_container_image={runner.container_image}')
    elif os.path.exists(SETUP_FILE):
      args.append(f'--setup_file={SETUP_FILE}')
  return args + list(runner.beam_args)


def runs_in_this_process(runner: definitions.RunnerConfig) -> bool:
  """Whether the pipeline's workers run inside the launching process (the local runner's `in_memory` mode)."""
  in_process_runners = tuple(name for name in _LOCAL_RUNNERS if name != 'PrismRunner')  # Prism is a subprocess
  return _is_local(runner, in_process_runners) and runner.direct_running_mode == 'in_memory'
