"""The dataset build through Beam's PortableRunner: the job API Flink, Spark and Dataflow use, here with Beam's
own Python job server and an external SDK worker pool, both as real subprocesses on loopback ports.

The shards must be byte-identical to an in-process (FnApiRunner) build of the same photos, and the manifests must
count the same examples and photos.
"""

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time

import portpicker
import pytest

import configs
from pipeline import build_dataset
from tests.conftest import REPO
from tests.conftest import copy_sample_photos
from tests.unit.dataset.test_build_dataset import _assert_same_files_but_manifest

NUM_PHOTOS = 10


def _wait_for_port(port: int, proc: subprocess.Popen, log_path, timeout: float = 60.0) -> None:
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if proc.poll() is not None:
      raise RuntimeError(f'{proc.args} exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}')
    try:
      with socket.create_connection(('127.0.0.1', port), timeout=1):
        return
    except OSError:
      time.sleep(0.2)
  raise RuntimeError(f'{proc.args} did not listen on {port} within {timeout} s:\n{log_path.read_text()[-3000:]}')


def _stop(proc: subprocess.Popen) -> None:
  """Ends the server and everything it started (the worker pool's SDK workers): its whole process group."""
  if proc.poll() is None:
    try:
      os.killpg(proc.pid, signal.SIGTERM)
      proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
      os.killpg(proc.pid, signal.SIGKILL)
      proc.wait()
  try:
    os.killpg(proc.pid, signal.SIGKILL)  # SDK workers the pool started may outlive it
  except ProcessLookupError:
    pass


@pytest.fixture
def portable_services(tmp_path):
  """Beam's Python job server and an external worker pool; yields their endpoints, kills both process groups."""
  env = dict(os.environ)
  # The worker pool starts SDK workers as plain `python`: this interpreter's, importing this checkout.
  env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
  env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
  job_port, pool_port = portpicker.pick_unused_port(), portpicker.pick_unused_port()
  commands = {
      'job_server': ([sys.executable, '-m', 'apache_beam.runners.portability.local_job_service_main',
                      '--port', str(job_port)], job_port),
      'worker_pool': ([sys.executable, '-m', 'apache_beam.runners.worker.worker_pool_main',
                       f'--service_port={pool_port}'], pool_port),
  }
  procs = []
  try:
    for name, (command, port) in commands.items():
      log_path = tmp_path / f'{name}.log'
      with open(log_path, 'wb') as log:  # a file, never an unread pipe
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env,
                                start_new_session=True)
      procs.append(proc)
      _wait_for_port(port, proc, log_path)
    yield f'localhost:{job_port}', f'localhost:{pool_port}'
  finally:
    for proc in procs:
      _stop(proc)


def _config(photos, output_dir, **runner):
  config = configs.load_config(overrides=[
      f'data.input_uri={photos}', f'data.output_dir={output_dir}', 'data.image_size=32', 'data.min_side=24',
      'data.augmentation.copies=1', 'data.shards={train: 2, eval: 1, test: 1}',
      'data.split_ratios={train: 0.6, eval: 0.2, test: 0.2}'])
  return dataclasses.replace(config, runner=dataclasses.replace(config.runner, **runner)) if runner else config


def test_portable_runner_build_is_byte_identical_to_the_local_one(portable_services, tmp_path):
  job_endpoint, worker_pool = portable_services
  photos = copy_sample_photos(tmp_path / 'photos', NUM_PHOTOS)
  local = build_dataset.run_build(_config(photos, tmp_path / 'local'))
  portable = build_dataset.run_build(_config(
      photos, tmp_path / 'portable', beam_runner='PortableRunner',
      beam_args=[f'--job_endpoint={job_endpoint}', '--environment_type=EXTERNAL',
                 f'--environment_config={worker_pool}']))
  assert local.manifest['source']['files_read'] == NUM_PHOTOS
  assert portable.manifest['source'] == local.manifest['source']
  assert portable.manifest['splits'] == local.manifest['splits']
  splits = local.manifest['splits']
  assert sum(s['photos'] for s in splits.values()) == NUM_PHOTOS
  assert splits['train']['examples'] == 2 * splits['train']['photos'] > 0  # one augmented copy, train only
  assert portable.manifest['dead_letters'] == local.manifest['dead_letters']
  _assert_same_files_but_manifest(local.version_dir, portable.version_dir)


def test_external_workers_get_no_staged_sdist():
  """Workers of an EXTERNAL pool (or LOOPBACK) import this project as installed here: no setup.py sdist to build."""
  from contracts import beam_options  # pylint: disable=g-import-not-at-top
  runner = configs.load_config().runner
  portable = dataclasses.replace(runner, beam_runner='PortableRunner', beam_args=['--environment_type=EXTERNAL'])
  assert not any(a.startswith('--setup_file') for a in beam_options.beam_args(portable))
  flink = dataclasses.replace(runner, beam_runner='FlinkRunner', beam_args=['--environment_type', 'DOCKER'])
  assert f'--setup_file={beam_options.SETUP_FILE}' in beam_options.beam_args(flink)
  command_line = ['--environment_type=LOOPBACK']  # after `--` on pipeline.build_dataset's command line
  assert not any(a.startswith('--setup_file') for a in beam_options.beam_args(
      dataclasses.replace(runner, beam_runner='PortableRunner'), command_line))
