"""Schedules the TFX pipeline with Apache Airflow (TFX's AirflowDagRunner): no cloud, one task per TFX node.

    python -m pipeline.run_airflow --config=configs/local.yaml --schedule_interval=@daily [--dags_folder=DIR]
    airflow db migrate                                    # Airflow's own database, once
    airflow dags reserialize && airflow dags unpause colorization-local && airflow scheduler   # on its schedule
    airflow dags test colorization-local                  # or one run now, in one process, without the scheduler

(`airflow` of the project's virtualenv: the DAG file imports this package.)

The command loads and checks the config (--config, --set, --pipeline_root), makes its local paths absolute
(Airflow runs tasks from its own working directory), builds the DAG once as Airflow will (so a bad config or a
missing input fails here, on the terminal, not in Airflow's import log) and writes the DAG file
`<dags_folder>/<pipeline_name>.py` (default: Airflow's `[core] dags_folder`, `$AIRFLOW_HOME/dags`). The terminal
shows a summary; the framework logs go to `<pipeline_root>/../logs/run_airflow-<timestamp>-<pid>.log`
(pipeline/console.py).

Airflow imports the DAG file; it calls `load_dag` with the recorded settings, which builds the pipeline of
pipeline/create_pipeline.py as run_local does (SQLite ML Metadata at `runner.metadata_path`, Beam's in-process
runner) and hands it to AirflowDagRunner: the DAG `<pipeline_name>` has one task per TFX node (LabExampleGen,
latest_blessed_model_resolver, ColorizerTrainer, ColorizationEvaluator, Pusher), each recording its execution and
artifacts in ML Metadata. One run at a time (`max_active_runs=1`: the SQLite store has one writer), no catch-up
of missed intervals. Airflow re-imports the DAG file for every task, so the input fingerprint (the cache key of
the examples) is taken when the task starts.

Each import of the DAG file imports TensorFlow and TFX (about 6 s on two idle cores; under load it can pass
Airflow's 30 s default limit) and lists the inputs, and the scheduler re-imports it every 30 s by default: set
`AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT=300` and, for a daily DAG, `AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL=600`.
"""

from __future__ import annotations

# First, before TensorFlow, TFX and Airflow are imported: their import-time banners go to the log, not the terminal.
from pipeline import console  # pylint: disable=g-bad-import-order
if __name__ == '__main__':
  console.start('run_airflow')

import json  # pylint: disable=g-import-not-at-top,wrong-import-position
import os
import pprint
from typing import Any, Sequence

from absl import app
from absl import flags
from airflow import configuration
from airflow import models
import pendulum
from tfx.orchestration import metadata
from tfx.orchestration.airflow import airflow_dag_runner

import configs
from configs import flags as config_flags
from contracts import beam_options
from dataset import inputs
from pipeline import create_pipeline

FLAGS = flags.FLAGS
# The first scheduled interval; with catchup off, Airflow starts at the latest interval instead of replaying these.
START_DATE = pendulum.datetime(2024, 1, 1, tz='UTC')
# Config keys holding local paths: made absolute in the DAG file.
PATH_KEYS = ('data.input_uri', 'data.output_dir', 'data.tfds_data_dir', 'runner.pipeline_root',
             'runner.metadata_path', 'push.destination')
# Weights the trainer reads: made absolute when they exist from here (a relative path that does not is one the
# trainer takes relative to the project, as the shipped `trainer/pretrained/` files are).
WEIGHTS_KEYS = ('training.warm_start_from', 'model.network.embedder_weights')


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so several commands share one process."""
  flags.DEFINE_string('pipeline_root', None, 'Root of the pipeline artifacts (default: runner.pipeline_root).')
  flags.DEFINE_string('schedule_interval', None, 'Airflow schedule: a cron expression or a preset such as @daily; '
                      '"none" runs only when triggered (default: runner.schedule_cron, else @daily).')
  flags.DEFINE_string('dags_folder', None, "Folder to write the DAG file to (default: Airflow's [core] dags_folder, "
                      '$AIRFLOW_HOME/dags).')
  flags.DEFINE_integer('train_steps', 0, 'Cap on training steps (0 = the config epochs).')


def create_dag(config: configs.PipelineConfig, *, schedule: str | None = '@daily', train_steps: int = 0,
               enable_cache: bool = True) -> models.DAG:
  """The pipeline as an Airflow DAG (dag_id: runner.pipeline_name), one task per TFX node."""
  pipeline = create_pipeline.create_pipeline(
      config,
      input_fingerprint=inputs.fingerprint(config.data.input_uri),
      metadata_connection_config=metadata.sqlite_metadata_connection_config(config.runner.metadata_path),
      beam_pipeline_args=beam_options.beam_args(config.runner),
      train_steps=train_steps, enable_cache=enable_cache)
  dag_config = {'schedule': schedule, 'start_date': START_DATE, 'catchup': False, 'max_active_runs': 1,
                'tags': ['tfx', 'colorization']}
  return airflow_dag_runner.AirflowDagRunner(airflow_dag_runner.AirflowPipelineConfig(dag_config)).run(pipeline)


def load_dag(settings: dict[str, Any]) -> models.DAG:
  """The DAG the DAG file names: `settings` as `dag_settings` returns them."""
  config = configs.load_config(settings['config'], list(settings['overrides']))
  return create_dag(config, schedule=settings['schedule'], train_steps=settings['train_steps'])


def absolute_uri(uri: str) -> str:
  """A relative local path, glob or `manifest:` file made absolute; URIs with a scheme and `tfds:` names as given."""
  if not uri or '://' in uri or uri.startswith('tfds:'):
    return uri
  if uri.startswith('manifest:'):
    return 'manifest:' + absolute_uri(uri[len('manifest:'):])
  return os.path.abspath(uri)


def _value(config: configs.PipelineConfig, key: str) -> Any:
  value = config
  for name in key.split('.'):
    value = getattr(value, name)
  return value


def dag_settings(config_path: str | None, overrides: Sequence[str], *, pipeline_root: str | None = None,
                 schedule: str | None = None, train_steps: int = 0) -> dict[str, Any]:
  """What the DAG file records: the config file and its overrides (paths absolute), the schedule, the step cap.

  Loads the config once here, so a bad key or value fails now, naming it, rather than in Airflow's import log.
  """
  overrides = list(overrides) + ([f'runner.pipeline_root={json.dumps(pipeline_root)}'] if pipeline_root else [])
  config = configs.load_config(config_path, overrides)
  keys = list(PATH_KEYS) + [key for key in WEIGHTS_KEYS
                            if _value(config, key) and os.path.exists(_value(config, key))]
  absolute = [f'{key}={json.dumps(absolute_uri(_value(config, key)))}' for key in keys
              if absolute_uri(_value(config, key)) != _value(config, key)]
  if schedule is None:
    schedule = config.runner.schedule_cron or '@daily'
  return {'config': os.path.abspath(config_path) if config_path and '://' not in config_path else config_path,
          'overrides': overrides + absolute, 'schedule': None if schedule.lower() == 'none' else schedule,
          'train_steps': train_steps, 'dag_id': config.runner.pipeline_name}


def dag_file_text(settings: dict[str, Any]) -> str:
  """The Python file Airflow imports from its dags folder: the settings and one call of `load_dag`."""
  return (f'"""The colorization pipeline as an Airflow DAG ({settings["dag_id"]}), written by '
          '`python -m pipeline.run_airflow`."""\n\n'
          'from pipeline import run_airflow\n\n'
          f'SETTINGS = {pprint.pformat(settings, width=110, sort_dicts=True)}\n\n'
          'dag = run_airflow.load_dag(SETTINGS)\n')


def write_dag_file(dags_folder: str, settings: dict[str, Any]) -> str:
  """Writes `<dags_folder>/<dag_id>.py` atomically (the scheduler may be reading the folder); returns its path."""
  os.makedirs(dags_folder, exist_ok=True)
  path = os.path.join(dags_folder, settings['dag_id'].replace('-', '_').replace('.', '_') + '.py')
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    f.write(dag_file_text(settings))
  os.replace(path + '.tmp', path)
  return path


def main(argv: Sequence[str]) -> None:
  del argv
  with console.start('run_airflow') as out:  # framework logs -> <pipeline_root>/../logs/run_airflow-*.log
    settings = dag_settings(config_flags.CONFIG_PATH.value, config_flags.OVERRIDES.value,
                            pipeline_root=FLAGS.pipeline_root, schedule=FLAGS.schedule_interval,
                            train_steps=FLAGS.train_steps)
    config = configs.load_config(settings['config'], list(settings['overrides']))
    out.relocate(os.path.join(os.path.dirname(config.runner.pipeline_root), 'logs'))  # next to the outputs
    dag = load_dag(settings)  # what Airflow will build from the file
    path = write_dag_file(FLAGS.dags_folder or configuration.conf.get('core', 'dags_folder'), settings)
    dag_id = settings['dag_id']
    out.print(f'Wrote the Airflow DAG {dag_id} to {path}: {len(dag.task_ids)} tasks '
              f'({", ".join(dag.task_ids)}), schedule {settings["schedule"] or "none (triggered runs only)"}.\n'
              "Airflow's database, once: airflow db migrate\n"
              f'On its schedule: airflow dags reserialize && airflow dags unpause {dag_id} && airflow scheduler\n'
              f'One run now:     airflow dags test {dag_id}')


def console_main() -> None:
  define_flags()
  app.run(main)


if __name__ == '__main__':
  console_main()
