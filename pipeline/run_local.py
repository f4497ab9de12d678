"""Runs the TFX pipeline locally: LocalDagRunner, a SQLite ML Metadata store, Beam's in-process runner.

    python -m pipeline.run_local --config=configs/local.yaml [--train_steps=N]

The terminal shows one line per component and the trainer's step lines; the framework logs go to
`<pipeline_root>/../logs/run_local-<timestamp>-<pid>.log` (pipeline/console.py).

Kill safety: a run killed half-way (SIGKILL, a power cut) leaves its current execution RUNNING in ML Metadata
forever, since nothing is left to finish it. The next run first takes the store's run lock (`<metadata>.lock`:
pid and host; a second live run on the same store is refused), so any execution of this pipeline still RUNNING
then belongs to a dead run: it is marked CANCELED (`cancel_abandoned_executions`) before the DAG starts. The
finished components of the killed run (e.g. LabExampleGen) are then served from the cache, and the interrupted
one runs again from the start in a fresh execution (its own new output folders: TFX names them by execution id).
"""

from __future__ import annotations

# First, before TensorFlow and TFX are imported: their import-time banners go to the run's log, not the terminal.
from pipeline import console  # pylint: disable=g-bad-import-order
if __name__ == '__main__':
  console.start('run_local')

import contextlib  # pylint: disable=g-import-not-at-top,wrong-import-position
import json
import logging
import os
import socket
from typing import Sequence

from absl import app
from absl import flags
import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata
from tfx.orchestration.local import local_dag_runner

import configs
from configs import flags as config_flags
from contracts import beam_options
from pipeline import create_pipeline
from dataset import inputs

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so several commands share one process."""
  flags.DEFINE_integer('train_steps', 0, 'Cap on training steps (0 = the config epochs).')


class StoreInUse(RuntimeError):
  """Another live local run holds this ML Metadata store."""


@contextlib.contextmanager
def run_lock(metadata_path: str):
  """Exclusive use of the SQLite store by this process for the duration of a run (`<metadata_path>.lock`, created
  with O_EXCL; a lock left by a dead process of this host is taken over)."""
  path = os.path.abspath(metadata_path) + '.lock'
  me = {'pid': os.getpid(), 'host': socket.gethostname()}
  for _ in range(2):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      try:
        with open(path) as f:
          holder = json.load(f)
      except (OSError, ValueError):
        holder = {}
      if holder.get('host') == me['host'] and not _pid_alive(int(holder.get('pid', 0))):
        os.remove(path)  # left by a killed run
        continue
      raise StoreInUse(f'{metadata_path} is in use by pid {holder.get("pid")} on {holder.get("host")} '
                       f'(remove {path} if that run is gone)') from None
    with os.fdopen(fd, 'w') as f:
      json.dump(me, f)
    break
  try:
    yield
  finally:
    with contextlib.suppress(OSError):
      os.remove(path)


def _pid_alive(pid: int) -> bool:
  if pid <= 0:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def cancel_abandoned_executions(metadata_path: str, pipeline_name: str) -> list[int]:
  """Marks this pipeline's executions still RUNNING as CANCELED (call only under `run_lock`: no run is live);
  returns their ids."""
  if not os.path.exists(metadata_path):
    return []
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = metadata_path
  store = mlmd.MetadataStore(connection)
  context = store.get_context_by_type_and_name('pipeline', pipeline_name)
  if context is None:
    return []
  abandoned = [e for e in store.get_executions_by_context(context.id)
               if e.last_known_state == metadata_store_pb2.Execution.RUNNING]
  for execution in abandoned:
    execution.last_known_state = metadata_store_pb2.Execution.CANCELED
  if abandoned:
    store.put_executions(abandoned)
    logging.getLogger(__name__).warning(
        'Marked %d execution(s) of an interrupted run CANCELED in %s: %s', len(abandoned), metadata_path,
        [e.id for e in abandoned])
  return [e.id for e in abandoned]


def run(config: configs.PipelineConfig, train_steps: int = 0, enable_cache: bool = True) -> None:
  """Runs the whole DAG; returns when every component has finished (or raises on the first failure)."""
  os.makedirs(os.path.dirname(os.path.abspath(config.runner.metadata_path)), exist_ok=True)
  with run_lock(config.runner.metadata_path):
    cancel_abandoned_executions(config.runner.metadata_path, config.runner.pipeline_name)
    _run(config, train_steps, enable_cache)


def _run(config: configs.PipelineConfig, train_steps: int, enable_cache: bool) -> None:
  pipeline = create_pipeline.create_pipeline(
      config,
      input_fingerprint=inputs.fingerprint(config.data.input_uri),
      metadata_connection_config=metadata.sqlite_metadata_connection_config(config.runner.metadata_path),
      beam_pipeline_args=beam_options.beam_args(config.runner),
      train_steps=train_steps, enable_cache=enable_cache)
  nodes = [node.id for node in pipeline.components]  # topologically sorted: the order LocalDagRunner runs them in
  logging.getLogger(__name__).info('Running %d nodes: %s', len(nodes), ', '.join(nodes),
                                   extra={'pipeline_nodes': nodes})  # the progress lines' [i/n] (pipeline/console.py)
  local_dag_runner.LocalDagRunner().run(pipeline)


def main(argv: Sequence[str]) -> None:
  del argv
  with console.start('run_local') as out:  # framework logs -> <pipeline_root>/../logs/run_local-*.log
    config = config_flags.config_from_flags()
    out.relocate(os.path.join(os.path.dirname(config.runner.pipeline_root), 'logs'))  # next to the outputs
    out.print(f'Running {config.runner.pipeline_name} on {config.data.input_uri} (LocalDagRunner; framework logs: '
              f'{out.log_path}) ...')
    run(config, FLAGS.train_steps)
    out.print(f'Pipeline {config.runner.pipeline_name} finished (ML Metadata: {config.runner.metadata_path}, '
              f'artifacts: {config.runner.pipeline_root})')


def console_main() -> None:
  define_flags()
  app.run(main)


if __name__ == '__main__':
  console_main()
