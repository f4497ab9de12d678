"""The Beam job for many videos, with a real exported model: one video per element, dead letters for bad files,
and resume after a real kill (SIGKILL mid-video): finished videos are not redone, the killed one's temporary file
is removed and it is done again, the dead letters are not duplicated."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image

import configs
from benchmarks import video_clips
from serving.video import batch
from serving.video import containers
from tests.conftest import REPO
from tests.conftest import sample_photo_paths


def _clip(path, photo_index, frames):
  photo = np.asarray(Image.open(sample_photo_paths(6)[photo_index]).convert('RGB'))
  video_clips.write_mp4(str(path), video_clips.pan(photo, 160, 120, frames, dx=1.0), 24)


def _partials(folder):
  return [os.path.join(d, n) for d, _, names in os.walk(folder) for n in names if n.endswith('.partial')]


def _frames(path):
  import av  # pylint: disable=g-import-not-at-top
  with av.open(str(path)) as container:
    return sum(1 for _ in container.decode(video=0))


def test_batch_job_resumes_after_a_kill(pushed_models, tmp_path):
  inputs, out = tmp_path / 'films', tmp_path / 'colour'
  (inputs / 'reel2').mkdir(parents=True)
  _clip(inputs / 'a.mp4', 0, 12)
  _clip(inputs / 'reel2' / 'b.mp4', 1, 12)
  (inputs / 'notes.txt').write_text('not a film')
  runner = configs.load_config().runner

  first = batch.run(str(inputs), str(out), str(pushed_models), runner)
  assert (first['colorized'], first['dead_letters']) == (2, 1)
  finished = {p: os.stat(p).st_mtime_ns for p in (out / 'a.mp4', out / 'reel2' / 'b.mp4')}
  assert all(containers.is_complete_mp4(str(p)) for p in finished)

  # Two long films more; the job is killed as soon as it is writing one of them.
  _clip(inputs / 'c.mp4', 2, 240)
  _clip(inputs / 'd.mp4', 3, 240)
  job = subprocess.Popen([sys.executable, '-m', 'serving.video.batch', f'--input={inputs}', f'--output={out}',
                          f'--model={pushed_models}'], cwd=REPO, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
  try:
    deadline = time.monotonic() + 240
    while not _partials(out) and job.poll() is None and time.monotonic() < deadline:
      time.sleep(0.02)
    assert job.poll() is None, 'the job ended before it could be killed'
    assert _partials(out), 'no video was being written'
    job.send_signal(signal.SIGKILL)
    job.wait(30)
  finally:
    if job.poll() is None:
      job.kill()
  done_before_kill = {p: os.stat(p).st_mtime_ns for p in (out / 'c.mp4', out / 'd.mp4') if p.exists()}
  assert len(done_before_kill) < 2 and _partials(out)  # killed mid-video: half a film, under a temporary name only
  assert all(containers.is_complete_mp4(str(p)) for p in done_before_kill)

  again = batch.run(str(inputs), str(out), str(pushed_models), runner)
  assert again['skipped'] == 2 + len(done_before_kill)
  assert again['colorized'] == 2 - len(done_before_kill)
  assert again['dead_letters'] == 1
  for path, mtime in {**finished, **done_before_kill}.items():
    assert os.stat(path).st_mtime_ns == mtime, f'{path} was redone'
  assert not _partials(out)
  assert [_frames(out / name) for name in ('a.mp4', 'reel2/b.mp4', 'c.mp4', 'd.mp4')] == [12, 12, 240, 240]
  letters = [json.loads(line) for line in open(out / 'dead_letters.jsonl')]
  assert [(os.path.basename(l['uri']), l['reason']) for l in letters] == [('notes.txt', 'not_a_video')]
