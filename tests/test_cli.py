"""The `colorize` CLI on good and bad files, with a real exported model in the pushed (TF Serving) layout."""

import io
import os
import shutil
import subprocess
import sys

from PIL import Image
import pytest

from serving import model_store
from tests.conftest import REPO
from tests.conftest import sample_photo_paths


def test_newest_pushed_version_is_used(pushed_models, tmp_path):
  assert model_store.resolve(str(pushed_models)) == str(pushed_models / '1800000000')
  assert model_store.resolve(str(pushed_models / '1700000000')) == str(pushed_models / '1700000000')
  with pytest.raises(model_store.ModelNotFound, match='no saved_model.pb'):
    model_store.resolve(str(tmp_path))


def run_cli(*args):
  return subprocess.run([sys.executable, '-m', 'serving.cli', *args], capture_output=True, text=True, cwd=REPO,
                        timeout=300)


def test_cli_colorizes_folders_and_globs_and_reports_bad_files(pushed_models, tmp_path):
  inputs = tmp_path / 'in'
  (inputs / 'nested').mkdir(parents=True)
  photos = sample_photo_paths(3)
  shutil.copy(photos[0], inputs / 'colour.jpg')
  Image.open(photos[1]).convert('L').save(inputs / 'nested' / 'old_bw.png')  # a real black-and-white input
  (inputs / 'broken.jpg').write_bytes(open(photos[2], 'rb').read()[:200])
  (inputs / 'notes.txt').write_text('not a photo, not an image extension: ignored in folders')
  out = tmp_path / 'out'
  run = run_cli(str(inputs), str(tmp_path / 'nothing_here_*.jpg'), f'--model={pushed_models}', f'--output={out}')
  assert run.returncode == 1, run.stderr  # some inputs failed
  assert 'FAILED' in run.stderr and 'broken.jpg' in run.stderr
  assert 'nothing_here_*.jpg: no such file' in run.stderr
  assert '2 colorized, 2 failed' in run.stderr
  assert 'Model: ' + str(pushed_models / '1800000000') in run.stderr
  colour = Image.open(out / 'colour.png')
  assert colour.size == Image.open(photos[0]).size and colour.mode == 'RGB'  # original resolution
  assert Image.open(out / 'nested' / 'old_bw.png').size == Image.open(photos[1]).size


def test_cli_compare_and_exit_status_zero(pushed_models, tmp_path):
  photo = sample_photo_paths(1)[0]
  gray = tmp_path / 'gray.png'
  Image.open(photo).convert('L').save(gray)
  out = tmp_path / 'out'
  run = run_cli(photo, str(gray), f'--model={pushed_models / "1700000000"}', f'--output={out}', '--compare')
  assert run.returncode == 0, run.stderr
  width, height = Image.open(photo).size
  stem = os.path.splitext(os.path.basename(photo))[0]
  assert Image.open(out / f'{stem}.png').size == (3 * width, height)  # gray | colorized | original
  assert Image.open(out / 'gray.png').size == (2 * width, height)     # gray input: no original to show


def test_colorize_rejects_oversized_input_before_the_model(pushed_models):
  from serving import colorizer as colorizer_lib
  colorizer = colorizer_lib.Colorizer(str(pushed_models))
  buffer = io.BytesIO()
  Image.new('L', (9000, 9000)).save(buffer, format='PNG')
  with pytest.raises(colorizer_lib.ColorizeError, match='pixel limit'):
    colorizer.colorize(buffer.getvalue())
  with pytest.raises(colorizer_lib.ColorizeError, match='empty file'):
    colorizer.colorize(b'')
