"""`colorize-video` as a user runs it, with a real exported model: a progress bar in frames and frames/s, the
colour-input note, a summary, no framework logs on the terminal (they are in the log file); a bad input ends with
one line naming the file and the reason, exit status 1, no traceback and no output."""

import os
import subprocess
import sys

import numpy as np
from PIL import Image

from benchmarks import video_clips
from tests.conftest import REPO
from tests.conftest import sample_photo_paths

FRAMEWORK_NOISE = ('cpu_feature_guard', 'oneDNN', 'WARNING', 'Traceback', 'I0000', 'absl', 'bigquery')


def run_cli(*args):
  return subprocess.run([sys.executable, '-m', 'serving.video.cli', *args], capture_output=True, text=True,
                        cwd=REPO, timeout=300)


def test_colorizes_a_colour_clip_quietly(pushed_models, tmp_path):
  photo = np.asarray(Image.open(sample_photo_paths(2)[1]).convert('RGB'))
  source = tmp_path / 'holiday.mov'
  video_clips.write_mp4(str(source), video_clips.pan(photo, 96, 64, 16, dx=1.0), 24, container_format='mov')
  logs = tmp_path / 'logs'
  run = run_cli(str(source), str(tmp_path / 'out') + '/', f'--model={pushed_models}', f'--framework_log_dir={logs}')
  terminal = run.stdout + run.stderr
  assert run.returncode == 0, terminal
  assert (tmp_path / 'out' / 'holiday.mp4').is_file()
  assert 'frame/s' in terminal and '16/16' in terminal  # the progress bar, in frames
  assert 'note: the input is in colour: it is converted to L first' in terminal
  assert '16 frames colorized in' in terminal and 'audio: aac (copied)' in terminal
  assert 'Model: ' + str(pushed_models / '1800000000') in terminal
  assert not [noise for noise in FRAMEWORK_NOISE if noise in terminal], terminal
  log = next(logs.iterdir())
  assert f'Full log: {log}' in terminal


def test_a_bad_input_is_one_line_and_status_1(pushed_models, tmp_path):
  (tmp_path / 'reel.mkv').write_bytes(b'\x1a\x45\xdf\xa3' + os.urandom(2000))  # a Matroska signature, then noise
  run = run_cli(str(tmp_path / 'reel.mkv'), str(tmp_path / 'reel.mp4'), f'--model={pushed_models}',
                f'--framework_log_dir={tmp_path / "logs"}')
  terminal = run.stdout + run.stderr
  assert run.returncode == 1
  assert f'FAILED {tmp_path / "reel.mkv"}: ' in terminal
  assert 'corrupt: the video data is corrupt' in terminal or 'truncated: ' in terminal, terminal
  assert 'Traceback' not in terminal and 'av.error' not in terminal
  assert sorted(os.listdir(tmp_path)) == ['logs', 'reel.mkv']
