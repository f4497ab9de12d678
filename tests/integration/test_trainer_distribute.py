"""The trainer's distribution: MirroredStrategy over logical CPUs, kill-and-resume from checkpoints, multi-worker
training on loopback, a worker that gives up when its peer never comes, and Vertex's cluster spec."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import portpicker
import tensorflow as tf

from tests.conftest import REPO
from tests.conftest import SMALL_MODEL
from tests.trainer_datasets import small_dataset  # pylint: disable=unused-import (a fixture)

PYTHON = sys.executable


def _train_command(dataset, output, *overrides, max_steps=4):
  return [PYTHON, '-m', 'trainer.task', f'--dataset={dataset}', f'--output={output}', f'--max_steps={max_steps}',
          ] + [a for o in (*SMALL_MODEL, *overrides) for a in ('--set', o)]


def test_mirrored_strategy_over_two_logical_cpus(small_dataset, tmp_path):
  """Also the runtime exports, traced from the mirrored variables."""
  run = subprocess.run(_train_command(small_dataset, tmp_path, 'training.cpu_devices=2',
                                      'training.runtime_exports=true'),
                       capture_output=True, text=True, cwd=REPO, timeout=300)
  assert run.returncode == 0, run.stderr[-2000:]
  assert 'replicas=2' in run.stdout and 'global_batch=8' in run.stdout
  assert os.path.exists(os.path.join(tmp_path, 'export', 'saved_model.pb'))
  manifest = json.load(open(os.path.join(tmp_path, 'export', 'runtimes', 'manifest.json')))
  assert all('bytes' in entry for entry in manifest['exports'].values()), manifest['exports']


def test_killed_training_resumes_from_its_last_checkpoint(small_dataset, tmp_path):
  command = _train_command(small_dataset, tmp_path, 'training.checkpoint_every_steps=2', max_steps=400)
  process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  checkpoints = os.path.join(tmp_path, 'checkpoints')
  deadline = time.time() + 240
  def saved_steps():  # finished checkpoints only (TF writes `ckpt-N_temp/` first, then `ckpt-N.index`)
    names = os.listdir(checkpoints) if os.path.isdir(checkpoints) else []
    return [int(m.group(1)) for m in map(re.compile(r'ckpt-(\d+)\.index').fullmatch, names) if m]

  while time.time() < deadline and not any(step >= 4 for step in saved_steps()):
    time.sleep(0.5)
  process.send_signal(signal.SIGKILL)
  process.wait()
  last = tf.train.latest_checkpoint(checkpoints)
  assert last, 'no checkpoint before the kill'
  saved_step = int(last.rsplit('-', 1)[1])
  assert not os.path.exists(os.path.join(tmp_path, 'export'))
  run = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
  assert run.returncode == 0, run.stderr[-2000:]
  resumed = int(run.stdout.split('resumed from step ')[1].split(')')[0])
  # A kill during a write can leave the newest checkpoint unreadable: the run then resumes from the one before.
  assert resumed >= saved_step >= 4 or (f'checkpoint {last} is unreadable' in run.stdout and resumed >= 2)
  assert 'Trained 400 steps' in run.stdout


def _tf_config(ports, index):
  return json.dumps({'cluster': {'worker': [f'127.0.0.1:{p}' for p in ports]}, 'task': {'type': 'worker',
                                                                                      'index': index}})


def test_multi_worker_training_on_loopback(small_dataset, tmp_path):
  ports = [portpicker.pick_unused_port(), portpicker.pick_unused_port()]
  workers = []
  for index in range(2):
    env = dict(os.environ, TF_CONFIG=_tf_config(ports, index))
    workers.append(subprocess.Popen(_train_command(small_dataset, tmp_path / f'w{index}', max_steps=3),
                                    cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  try:
    outputs = [w.communicate(timeout=420) for w in workers]
  finally:
    for w in workers:
      if w.poll() is None:
        w.kill()
  for w, (out, err) in zip(workers, outputs):
    assert w.returncode == 0, err[-2000:]
    assert 'replicas=2' in out and 'global_batch=8' in out
  assert os.path.exists(tmp_path / 'w0' / 'export' / 'saved_model.pb')  # worker 0 is the chief
  assert not os.path.exists(tmp_path / 'w1' / 'export')               # only the chief exports


def test_a_worker_whose_peer_never_comes_gives_up(small_dataset, tmp_path):
  ports = [portpicker.pick_unused_port(), portpicker.pick_unused_port()]
  env = dict(os.environ, TF_CONFIG=_tf_config(ports, 0))
  start = time.time()
  run = subprocess.run(_train_command(small_dataset, tmp_path, 'training.worker_start_timeout_seconds=5'),
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
  assert run.returncode != 0
  assert run.returncode == -signal.SIGKILL
  assert 'did not come up within 5 s' in run.stderr
  assert time.time() - start < 200


def test_vertex_cluster_spec_becomes_tf_config(monkeypatch):
  from trainer.loop import distribute
  monkeypatch.setenv('TF_CONFIG', '')  # recorded, so the TF_CONFIG written below is removed after the test
  monkeypatch.setenv('CLUSTER_SPEC', json.dumps({
      'cluster': {'workerpool0': ['cmle-training-workerpool0-ab:2222'],
                  'workerpool1': ['cmle-training-workerpool1-ab-0:2222', 'cmle-training-workerpool1-ab-1:2222']},
      'task': {'type': 'workerpool1', 'index': 1}}))
  tf_config = distribute.cluster_from_environment()
  assert tf_config['cluster']['chief'] == ['cmle-training-workerpool0-ab:2222']
  assert len(tf_config['cluster']['worker']) == 2
  assert tf_config['task'] == {'type': 'worker', 'index': 1}
  assert json.loads(os.environ['TF_CONFIG']) == tf_config  # what MultiWorkerMirroredStrategy reads
  assert not distribute.is_chief(tf_config)
  assert distribute.is_chief({'cluster': tf_config['cluster'], 'task': {'type': 'chief', 'index': 0}})
