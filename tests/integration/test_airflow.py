"""The TFX pipeline scheduled by Apache Airflow (pipeline/run_airflow.py) in a temporary AIRFLOW_HOME: SQLite
metadata DB, SequentialExecutor. `python -m pipeline.run_airflow --schedule_interval=@daily` writes the DAG file
into the dags folder; the Airflow scheduler loads it from there, schedules the DAG run of the latest daily interval
(no catch-up of earlier ones) and runs it with every TFX node as an Airflow task (each in its own
`airflow tasks run` process), and the pipeline's executions and artifacts land in ML Metadata.

Airflow runs only in subprocesses: importing it configures logging and settings process-wide.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
import pytest

from tests.conftest import copy_sample_photos
from tests.conftest import REPO
from tests.conftest import tiny_pipeline_overrides

DAG_ID = 'colorization-airflow-test'
NODES = {'LabExampleGen', 'ColorizerTrainer', 'latest_blessed_model_resolver', 'ColorizationEvaluator', 'Pusher'}
RUN_TIMEOUT_S = 600  # a hung scheduler fails the test instead of blocking the suite


def _airflow_env(home):
  env = dict(os.environ)
  env.update({
      'AIRFLOW_HOME': str(home), 'AIRFLOW__CORE__DAGS_FOLDER': str(home / 'dags'),
      'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN': f'sqlite:///{home / "airflow.db"}',
      'AIRFLOW__CORE__EXECUTOR': 'SequentialExecutor', 'AIRFLOW__CORE__LOAD_EXAMPLES': 'False',
      'AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION': 'False', 'AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT': '300',
      'AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC': '1', 'AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL': '600',
      # The SequentialExecutor starts each task as `airflow tasks run ...`: this venv's `airflow`.
      'PATH': os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')})
  return env


def _run(args, env, what):
  run = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
  assert run.returncode == 0, f'{what} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}'
  return run


def _dag_run_state(database):
  if not os.path.exists(database):
    return None
  with sqlite3.connect(database) as db:
    try:
      rows = db.execute('SELECT state FROM dag_run WHERE dag_id = ?', (DAG_ID,)).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
      return None
  return rows[0][0] if rows else None


@pytest.fixture(scope='module')
def airflow_run(tmp_path_factory):
  root = tmp_path_factory.mktemp('airflow')
  home = root / 'airflow_home'
  env = _airflow_env(home)
  photos = copy_sample_photos(root / 'photos', 8)
  overrides = [*tiny_pipeline_overrides(photos), f'runner.pipeline_name={DAG_ID}',
               f'runner.metadata_path={root / "metadata.sqlite"}', f'push.destination={root / "serving_model"}',
               f'data.output_dir={root / "datasets"}']
  written = _run([sys.executable, '-m', 'pipeline.run_airflow',  # no --dags_folder: Airflow's [core] dags_folder
                  f'--pipeline_root={root / "pipeline_root"}', '--schedule_interval=@daily', '--train_steps=2',
                  *[f'--set={o}' for o in overrides]], env, 'pipeline.run_airflow')
  _run([sys.executable, '-m', 'airflow', 'db', 'migrate'], env, 'airflow db migrate')
  database = str(home / 'airflow.db')
  with open(root / 'scheduler.log', 'w') as log:
    scheduler = subprocess.Popen([sys.executable, '-m', 'airflow', 'scheduler'], env=env, cwd=REPO, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    try:
      deadline = time.monotonic() + RUN_TIMEOUT_S
      while _dag_run_state(database) not in ('success', 'failed'):
        assert scheduler.poll() is None, f'the scheduler exited: {(root / "scheduler.log").read_text()[-3000:]}'
        assert time.monotonic() < deadline, f'no finished DAG run: {(root / "scheduler.log").read_text()[-3000:]}'
        time.sleep(1)
    finally:
      scheduler.terminate()
      try:
        scheduler.wait(timeout=60)
      except subprocess.TimeoutExpired:  # its DAG processor and task processes too
        os.killpg(scheduler.pid, signal.SIGKILL)
        scheduler.wait()
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = str(root / 'metadata.sqlite')
  return {'root': root, 'home': home, 'database': database, 'command_output': written.stdout,
          'command_errors': written.stderr, 'store': mlmd.MetadataStore(connection)}


def test_the_command_writes_the_dag_file_airflow_loads(airflow_run):
  dag_file = airflow_run['home'] / 'dags' / 'colorization_airflow_test.py'
  assert airflow_run['command_output'].startswith(f'Wrote the Airflow DAG {DAG_ID} to {dag_file}: 5 tasks')
  assert airflow_run['command_errors'] == ''  # TensorFlow's, TFX's and Airflow's logs went to the command's log
  assert len(list((airflow_run['root'] / 'logs').glob('run_airflow-*.log'))) == 1  # next to the pipeline root
  with sqlite3.connect(airflow_run['database']) as db:
    (fileloc,), = db.execute('SELECT fileloc FROM dag WHERE dag_id = ?', (DAG_ID,)).fetchall()
  assert fileloc == str(dag_file)


def test_each_tfx_node_ran_as_an_airflow_task_that_succeeded(airflow_run):
  with sqlite3.connect(airflow_run['database']) as db:
    (run_state, run_type), = db.execute('SELECT state, run_type FROM dag_run WHERE dag_id = ?',
                                        (DAG_ID,)).fetchall()
    tasks = db.execute('SELECT task_id, state, operator, pid FROM task_instance WHERE dag_id = ?',
                       (DAG_ID,)).fetchall()
  assert run_state == 'success', tasks
  assert run_type == 'scheduled'  # created by the scheduler on the schedule, not triggered by hand
  assert {task_id: state for task_id, state, _, _ in tasks} == {node: 'success' for node in NODES}
  assert {operator for _, _, operator, _ in tasks} == {'AirflowComponent'}  # TFX's operator for a node
  assert len({pid for _, _, _, pid in tasks}) == len(NODES)  # one `airflow tasks run` process per task


def test_ml_metadata_records_each_component_under_the_airflow_run(airflow_run):
  store = airflow_run['store']
  with sqlite3.connect(airflow_run['database']) as db:
    (run_id,), = db.execute('SELECT run_id FROM dag_run WHERE dag_id = ?', (DAG_ID,)).fetchall()
  run_context = store.get_context_by_type_and_name('run', f'{DAG_ID}.{run_id}')
  assert run_context is not None, [c.name for c in store.get_contexts()]
  states = {store.get_execution_types_by_id([e.type_id])[0].name.rsplit('.', 1)[-1]:
            metadata_store_pb2.Execution.State.Name(e.last_known_state)
            for e in store.get_executions_by_context(run_context.id)}
  for component in ('LabExampleGen', 'ColorizerTrainer', 'ColorizationEvaluator', 'Pusher'):
    assert states.get(component) == 'COMPLETE', states
  types = {t.id: t.name for t in store.get_artifact_types()}
  names = {types[a.type_id] for a in store.get_artifacts_by_context(run_context.id)}
  assert {'Examples', 'Model', 'ModelEvaluation', 'ModelBlessing', 'PushedModel'} <= names, names


def test_the_pusher_pushed_a_saved_model(airflow_run):
  pushed, = airflow_run['store'].get_artifacts_by_type('PushedModel')
  assert pushed.custom_properties['pushed'].int_value == 1
  destination = pushed.custom_properties['pushed_destination'].string_value
  assert os.path.dirname(destination) == str(airflow_run['root'] / 'serving_model')
  assert os.path.basename(destination).isdigit()  # TF Serving layout <base>/<version>/
  assert os.path.isfile(os.path.join(destination, 'saved_model.pb'))
