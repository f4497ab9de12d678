"""Beam pipeline arguments per runner, from `RunnerConfig` (one place for every Beam job and Beam component)."""

from __future__ import annotations

import contextlib
import inspect
import os
from typing import Iterator, Sequence

from configs import definitions

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUP_FILE = os.path.join(PROJECT_ROOT, 'setup.py')
_LOCAL_RUNNERS = ('FnApiRunner', 'DirectRunner', 'PrismRunner')
# Runners this project's Beam jobs refuse, and why (checked on the final argument list, `check_runner`).
UNSUPPORTED_RUNNERS = {
    'DaskRunner': 'it silently drops whatever a DoFn emits from finish_bundle (its evaluator collects the outputs '
                  'before calling finish_bundle), and the dataset job emits records, file batches and shard '
                  'summaries there: a build would lose data',
}


class UnsupportedRunnerError(ValueError):
  """A Beam runner known to lose this project's data."""


def check_runner(args) -> None:
  """Raises UnsupportedRunnerError when the runner named in `args` (the last `--runner`) is unsupported."""
  args = list(args)
  runner = None
  for i, arg in enumerate(args):
    if arg.startswith('--runner='):
      runner = arg.split('=', 1)[1]
    elif arg == '--runner' and i + 1 < len(args):
      runner = args[i + 1]
  for name, why in UNSUPPORTED_RUNNERS.items():
    if runner and runner.rsplit('.', 1)[-1] == name:
      raise UnsupportedRunnerError(f'Beam runner {runner} is not supported: {why}. Use the local FnApiRunner, '
                                   'a portable runner (Flink, Spark, a job server) or Dataflow.')


def _is_local(runner: definitions.RunnerConfig, local_runners=_LOCAL_RUNNERS) -> bool:
  return any(runner.beam_runner.endswith(name) for name in local_runners)


def _workers_use_this_environment(args) -> bool:
  """Portable SDK workers started as this machine's processes (`--environment_type=EXTERNAL`: a worker pool
  started from this environment; `LOOPBACK`: inside the launcher) import this project as it is installed here and
  never install a staged package, so building and staging an sdist of setup.py would be wasted work."""
  for i, arg in enumerate(args):
    value = arg.split('=', 1)[1] if arg.startswith('--environment_type=') else (
        args[i + 1] if arg == '--environment_type' and i + 1 < len(args) else None)
    if value is not None and value.upper() in ('EXTERNAL', 'LOOPBACK'):
      return True
  return False


def beam_args(runner: definitions.RunnerConfig, extra: Sequence[str] = ()) -> list[str]:
  """Command-line style Beam options for `runner` (also usable as TFX `beam_pipeline_args`), then `extra` (e.g. a
  command line's own Beam options, which win). Refuses an unsupported runner (`check_runner`)."""
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
    elif os.path.exists(SETUP_FILE) and not _workers_use_this_environment(list(runner.beam_args) + list(extra)):
      args.append(f'--setup_file={SETUP_FILE}')
  args += list(runner.beam_args) + list(extra)
  check_runner(args)
  return args


def runs_in_this_process(runner: definitions.RunnerConfig) -> bool:
  """Whether the pipeline's workers run inside the launching process (the local runner's `in_memory` mode)."""
  in_process_runners = tuple(name for name in _LOCAL_RUNNERS if name != 'PrismRunner')  # Prism is a subprocess
  return _is_local(runner, in_process_runners) and runner.direct_running_mode == 'in_memory'


@contextlib.contextmanager
def short_state_sampling(period_ms: int = 20) -> Iterator[None]:
  """Within the block, Beam SDK workers created in this process sample execution state every `period_ms`.

  Beam's Python worker times each bundle's steps on a sampling thread that sleeps up to 200 ms between samples,
  and ending a bundle joins that thread: every long bundle ends up to 200 ms late. Measured on the dataset
  build's photo stage (caltech-3k, in_memory): 150 ms median from the last output to the next stage, 50 ms with
  20 ms. Only meaningful where the workers run in this process (`runs_in_this_process`); the sampling thread
  costs nothing measurable at 20 ms. A Beam version whose StateSampler has another signature is left alone.
  """
  # Lazy: a Beam worker module, imported only when a pipeline runs.
  from apache_beam.runners.worker import statesampler  # pylint: disable=g-import-not-at-top
  init = statesampler.StateSampler.__init__
  parameters = list(inspect.signature(init).parameters)
  defaults = init.__defaults__
  if parameters[-1:] != ['sampling_period_ms'] or not defaults or len(defaults) != 1:
    yield
    return
  init.__defaults__ = (period_ms,)
  try:
    yield
  finally:
    init.__defaults__ = defaults
