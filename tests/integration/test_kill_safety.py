"""Kill safety of the dataset build: a build killed with SIGKILL leaves no process behind, and the next build removes
its partial version folder while the previous complete version and LATEST stay intact.

Every test here really kills a process (a subprocess, SIGKILL)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from contracts import dataset_version
from contracts import schema
from tests.conftest import copy_sample_photos
from tests.conftest import REPO
from tests.conftest import tiny_pipeline_overrides


def _children(pid):
  """All live descendants of `pid` (from /proc: no psutil in the pinned set)."""
  parents = {}
  for entry in os.listdir('/proc'):
    if entry.isdigit():
      try:
        with open(f'/proc/{entry}/stat') as f:
          fields = f.read().rsplit(')', 1)[1].split()
        parents.setdefault(int(fields[1]), []).append(int(entry))
      except OSError:
        continue
  found, todo = [], [pid]
  while todo:
    for child in parents.get(todo.pop(), []):
      found.append(child)
      todo.append(child)
  return found


def _alive(pid):
  """Running (not gone, not a zombie waiting for its reaper)."""
  try:
    with open(f'/proc/{pid}/stat') as f:
      return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
  except OSError:
    return False


def _cmdline(pid):
  try:
    with open(f'/proc/{pid}/cmdline', 'rb') as f:
      return f.read().replace(b'\0', b' ').decode('utf-8', 'replace')
  except OSError:
    return ''


def _build_command(photos, output_dir, *extra):
  return [sys.executable, '-m', 'pipeline.build_dataset', f'--set=data.input_uri={photos}',
          f'--set=data.output_dir={output_dir}', '--set=data.photo_workers=2', '--set=data.augmentation.copies=0',
          *extra]


@pytest.fixture(scope='module')
def killed_build(tmp_path_factory):
  """A complete small build, then a bigger build killed with SIGKILL once its process pool is working (and stalled
  on a named pipe, so the kill cannot come too late).

  Returns (output_dir, complete version name, partial version name, pool pids seen before the kill, pids alive
  5 s after the kill)."""
  root = tmp_path_factory.mktemp('killed_build')
  output_dir = root / 'datasets'
  small = copy_sample_photos(root / 'small', 6)
  first = subprocess.run(_build_command(small, output_dir, '--set=data.image_size=32'), cwd=REPO,
                         capture_output=True, text=True, timeout=300)
  assert first.returncode == 0, first.stderr[-3000:]
  complete = (output_dir / dataset_version.LATEST_FILE).read_text().strip()

  photos = copy_sample_photos(root / 'photos', 60)
  # A named pipe posing as a photo: the pool task that reads it blocks until the kill, so the build is still
  # running when it is killed however fast this machine processes the other photos.
  os.mkfifo(photos / 'zz_stalls_until_killed.jpg')
  process = subprocess.Popen(_build_command(photos, output_dir, '--set=data.image_size=256'), cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    pool_pids, deadline = [], time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
      # The forkserver and at least one pool process (both run multiprocessing's forkserver code) ...
      pool_pids = [p for p in _children(process.pid) if 'forkserver' in _cmdline(p) or 'multiprocessing' in
                   _cmdline(p)]
      partial = [p for p in output_dir.iterdir() if p.is_dir() and p.name != complete]
      # ... and photos already spilled by the pool: the build is half-way.
      if len(pool_pids) >= 2 and partial and (partial[0] / '_spill').is_dir() and any((partial[0] / '_spill').iterdir()):
        break
      time.sleep(0.1)
    assert process.poll() is None, 'the build ended before it could be killed'
    assert len(pool_pids) >= 2, _children(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in pool_pids):
      time.sleep(0.1)
    left = [p for p in pool_pids if _alive(p)]
  finally:
    if process.poll() is None:
      process.kill()
  for pid in left:  # do not leave them behind on a failing run either
    os.kill(pid, signal.SIGKILL)
  return output_dir, complete, partial[0].name, pool_pids, left


def test_pool_processes_die_with_the_killed_build(killed_build):
  _, _, _, pool_pids, left = killed_build
  assert pool_pids and not left, f'orphaned pool processes: {[(p, _cmdline(p)) for p in left]}'


def test_next_build_removes_the_abandoned_partial_version(killed_build, tmp_path):
  output_dir, complete, partial, _, _ = killed_build
  partial_dir = output_dir / partial
  assert partial_dir.is_dir() and not (partial_dir / schema.MANIFEST_FILE).exists()
  writer = json.loads((partial_dir / dataset_version.WRITER_FILE).read_text())
  assert writer['pid'] and writer['host']
  assert (output_dir / dataset_version.LATEST_FILE).read_text().strip() == complete  # the kill moved nothing

  photos = copy_sample_photos(tmp_path / 'photos', 4)
  run = subprocess.run(_build_command(photos, output_dir, '--set=data.image_size=32'), cwd=REPO,
                       capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-3000:]
  assert not partial_dir.exists(), (run.stdout, run.stderr[-2000:], sorted(os.listdir(output_dir)))
  assert f'removed abandoned partial version {partial_dir}' in run.stdout
  assert 'is gone' in run.stdout  # why: its writer's pid is gone
  # The previous complete version is intact; LATEST moved to the new one, which has no writer file left.
  assert dataset_version.is_complete(str(output_dir / complete))
  newest = (output_dir / dataset_version.LATEST_FILE).read_text().strip()
  assert newest not in (complete, partial)
  assert sorted(p.name for p in output_dir.iterdir()) == sorted([complete, newest, dataset_version.LATEST_FILE])
  assert not (output_dir / newest / dataset_version.WRITER_FILE).exists()


def test_a_live_writer_and_complete_versions_are_never_removed(tmp_path):
  """Only version-named folders without a manifest whose writer is gone (or stale) are abandoned."""
  output_dir = tmp_path / 'datasets'
  live = output_dir / '20200101T000000Z'
  live.mkdir(parents=True)
  (live / dataset_version.WRITER_FILE).write_text(json.dumps(
      {'pid': os.getpid(), 'host': os.uname().nodename,
       'heartbeat': time.strftime('%Y-%m-%dT%H:%M:%S+00:00', time.gmtime())}))
  complete = output_dir / '20200101T000001Z'
  complete.mkdir()
  (complete / schema.MANIFEST_FILE).write_text('{}')
  old = output_dir / '20200101T000002Z'
  old.mkdir()  # no writer file (a build from before writer files), started long ago: abandoned
  other = output_dir / 'not_a_version'
  other.mkdir()
  newer = output_dir / '20990101T000000Z'
  newer.mkdir()  # newer than the running build: never touched
  removed = dataset_version.remove_abandoned(str(output_dir), str(output_dir / '20300101T000000Z'))
  assert [os.path.basename(folder) for folder, _ in removed] == [old.name]
  assert live.exists() and complete.exists() and other.exists() and newer.exists() and not old.exists()


def _png_is_whole(path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with Image.open(path) as image:
    image.load()  # raises on a truncated file
  data = path.read_bytes()
  return data.endswith(b'IEND\xaeB`\x82')


def test_batch_job_killed_then_rerun_finishes_without_redoing_or_duplicating(pushed_models, tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  inputs, out = tmp_path / 'in', tmp_path / 'out'
  inputs.mkdir()
  names = []
  for i, path in enumerate(copy_sample_photos(tmp_path / 'photos', 20).iterdir()):
    # 3 megapixels each: long enough per photo that the kill lands between outputs
    Image.open(path).convert('RGB').resize((2000, 1500)).save(inputs / f'p{i:02d}.jpg', quality=90)
    names.append(f'p{i:02d}')
  (inputs / 'broken.jpg').write_bytes((inputs / 'p00.jpg').read_bytes()[:5000])
  command = [sys.executable, '-m', 'serving.batch', f'--input={inputs}', f'--output={out}',
             f'--model={pushed_models}', f'--framework_log_dir={tmp_path / "logs"}']
  process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
  try:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
      if out.is_dir() and len(list(out.glob('*.png'))) >= 3:
        break
      time.sleep(0.05)
    assert process.poll() is None, 'the batch job ended before it could be killed'
    process.send_signal(signal.SIGKILL)
    process.wait()
  finally:
    if process.poll() is None:
      process.kill()
  done = sorted(p.stem for p in out.glob('*.png'))
  assert 3 <= len(done) < 20, done
  assert all(_png_is_whole(out / f'{name}.png') for name in done)  # no half-written PNG under an output name

  rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
  assert f'{20 - len(done)} colorized, {len(done)} skipped (already done), 1 dead letters' in rerun.stderr
  terminal = rerun.stdout + rerun.stderr  # the summary only: TensorFlow's and Beam's logs are in the log file
  noise = ('oneDNN', 'cpu_feature_guard', 'I0000', 'bson', 'WARNING')
  assert not [word for word in noise if word in terminal], terminal
  assert f'framework log: {tmp_path / "logs"}' in terminal
  assert sorted(p.name for p in out.iterdir()) == sorted([f'{n}.png' for n in names] + ['dead_letters.jsonl'])
  assert all(_png_is_whole(out / f'{name}.png') for name in names)
  letters = [json.loads(line) for line in (out / 'dead_letters.jsonl').read_text().splitlines()]
  assert [(os.path.basename(l['uri']), l['reason']) for l in letters] == [('broken.jpg', 'truncated')]


def test_pipeline_killed_during_training_resumes_from_the_cache_and_pushes(tmp_path):
  """A local TFX run killed (SIGKILL, whole process group) while ColorizerTrainer runs; the next run serves
  LabExampleGen from the cache, re-runs the trainer, ends with a pushed model; the dangling RUNNING execution of
  the killed run is marked CANCELED."""
  import ml_metadata as mlmd  # pylint: disable=g-import-not-at-top
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  photos = copy_sample_photos(tmp_path / 'photos', 8)
  root = tmp_path / 'pipeline_root'
  command = [sys.executable, '-m', 'pipeline.run_local', '--train_steps=20000'] + [f'--set={o}' for o in [
      *tiny_pipeline_overrides(photos), f'runner.pipeline_root={root}',
      f'runner.metadata_path={tmp_path / "metadata.sqlite"}', f'push.destination={tmp_path / "serving_model"}']]
  process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
  try:
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and process.poll() is None:
      if (root / 'ColorizerTrainer').is_dir():  # the trainer's execution has started (its output folders exist)
        break
      time.sleep(0.2)
    assert process.poll() is None, 'the run ended before it could be killed'
    time.sleep(3)  # well into training
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
  finally:
    if process.poll() is None:
      os.killpg(process.pid, signal.SIGKILL)
  assert not (tmp_path / 'serving_model').exists()
  command[3] = '--train_steps=2'  # the re-run does not need to train long
  rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)

  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = str(tmp_path / 'metadata.sqlite')
  store = mlmd.MetadataStore(connection)
  states = {}
  for execution in sorted(store.get_executions(), key=lambda e: e.id):
    name = store.get_execution_types_by_id([execution.type_id])[0].name.rsplit('.', 1)[-1]
    states.setdefault(name, []).append(metadata_store_pb2.Execution.State.Name(execution.last_known_state))
  assert states['LabExampleGen'] == ['COMPLETE', 'CACHED'], (states, rerun.stderr[-3000:])
  assert states['ColorizerTrainer'] == ['CANCELED', 'COMPLETE'], (states, rerun.stderr[-3000:])
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  assert states['Pusher'] == ['COMPLETE'], states
  assert len(os.listdir(tmp_path / 'serving_model')) == 1  # one pushed version
  assert not (tmp_path / 'metadata.sqlite.lock').exists()
