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


FRAMEWORK_NOISE = ('cpu_feature_guard', 'oneDNN', 'I0000', 'absl::InitializeLog', 'bson')  # TensorFlow's, Beam's


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
  logs = tmp_path / 'logs'
  run = run_cli(str(inputs), str(tmp_path / 'nothing_here_*.jpg'), f'--model={pushed_models}', f'--output={out}',
                f'--framework_log_dir={logs}')
  assert run.returncode == 1, run.stderr  # some inputs failed
  assert not [noise for noise in FRAMEWORK_NOISE if noise in run.stdout + run.stderr], run.stderr
  log = next(logs.iterdir())
  assert f'Framework log: {log}' in run.stderr
  assert 'FAILED' in run.stderr and 'broken.jpg' in run.stderr
  assert 'nothing_here_*.jpg: no such file' in run.stderr
  assert '2 colorized, 2 failed' in run.stderr
  assert 'Model: ' + str(pushed_models / '1800000000') in run.stderr
  colour = Image.open(out / 'colour.png')
  assert colour.size == Image.open(photos[0]).size and colour.mode == 'RGB'  # original resolution
  assert Image.open(out / 'nested' / 'old_bw.png').size == Image.open(photos[1]).size


def test_cli_compare_exit_status_zero_and_verbose_logs(pushed_models, tmp_path):
  photo = sample_photo_paths(1)[0]
  gray = tmp_path / 'gray.png'
  Image.open(photo).convert('L').save(gray)
  out = tmp_path / 'out'
  logs = tmp_path / 'logs'
  run = run_cli(photo, str(gray), f'--model={pushed_models / "1700000000"}', f'--output={out}', '--compare',
                '--verbose', f'--framework_log_dir={logs}')
  assert run.returncode == 0, run.stderr
  assert 'oneDNN' in run.stderr and not logs.exists()  # --verbose: TensorFlow's logs on the terminal, no log file
  width, height = Image.open(photo).size
  stem = os.path.splitext(os.path.basename(photo))[0]
  assert Image.open(out / f'{stem}.png').size == (3 * width, height)  # gray | colorized | original
  assert Image.open(out / 'gray.png').size == (2 * width, height)     # gray input: no original to show


def test_colorize_rejects_oversized_input_before_the_model(pushed_models):
  from serving import colorizer as colorizer_lib
  colorizer = colorizer_lib.Colorizer(str(pushed_models))
  buffer = io.BytesIO()
  Image.new('L', (9000, 9000)).save(buffer, format='PNG')
  with pytest.raises(colorizer_lib.ColorizeError, match='too_large: .*9000x9000.*the limit is 64000000 pixels'):
    colorizer.colorize(buffer.getvalue())
  with pytest.raises(colorizer_lib.ColorizeError, match='empty: the file is empty'):
    colorizer.colorize(b'')


def _bad_files(folder):
  """One file per failure reason of the shared vocabulary, plus one good photo."""
  folder.mkdir(parents=True, exist_ok=True)
  photo = sample_photo_paths(4)[3]
  data = open(photo, 'rb').read()
  (folder / 'empty.jpg').write_bytes(b'')
  (folder / 'text.png').write_text('just some notes, not a picture')
  (folder / 'truncated.jpg').write_bytes(data[: len(data) // 2])
  buffer = io.BytesIO()
  Image.open(photo).convert('RGB').save(buffer, format='PNG')
  corrupt = bytearray(buffer.getvalue())
  corrupt[len(corrupt) // 2: len(corrupt) // 2 + 64] = bytes(range(64))  # damaged compressed data
  (folder / 'corrupt.png').write_bytes(bytes(corrupt))
  bomb = io.BytesIO()
  Image.new('L', (9000, 9000)).save(bomb, format='PNG')  # 81 megapixels in ~80 KB
  (folder / 'bomb.png').write_bytes(bomb.getvalue())
  shutil.copy(photo, folder / 'good.jpg')
  return {'empty.jpg': 'empty', 'text.png': 'not_an_image', 'truncated.jpg': 'truncated',
          'corrupt.png': 'corrupt', 'bomb.png': 'too_large'}


def test_cli_names_a_reason_for_every_bad_file_and_colorizes_the_good_one(pushed_models, tmp_path):
  expected = _bad_files(tmp_path / 'in')
  out = tmp_path / 'out'
  run = run_cli(str(tmp_path / 'in'), f'--model={pushed_models}', f'--output={out}')
  assert run.returncode == 1, run.stderr
  failed = {line.split(': ', 1)[0][len('FAILED '):]: line.split(': ', 1)[1]
            for line in run.stderr.splitlines() if line.startswith('FAILED ')}
  assert {os.path.basename(path): text.split(':', 1)[0] for path, text in failed.items()} == expected
  for text in failed.values():
    assert 'Graph execution error' not in text and 'Error' not in text and 'Exception' not in text, text
  bomb = next(text for path, text in failed.items() if path.endswith('bomb.png'))
  assert '9000x9000' in bomb and '64000000' in bomb  # the size and the limit
  assert 'ends before the image does' in next(t for p, t in failed.items() if p.endswith('truncated.jpg'))
  assert sorted(os.listdir(out)) == ['good.png']
  assert Image.open(out / 'good.png').size == Image.open(tmp_path / 'in' / 'good.jpg').size
  assert '1 colorized, 5 failed' in run.stderr


def test_model_errors_start_with_the_reason_word(pushed_models):
  """The SavedModel itself (no validation in front of it): its assertions name the reason, which the tools map."""
  import tensorflow as tf
  from contracts import dead_letters
  model, _ = model_store.load(str(pushed_models))
  serve = model.signatures['serving_default']
  bomb = io.BytesIO()
  Image.new('L', (9000, 9000)).save(bomb, format='PNG')
  for data, reason in [(b'', 'empty'), (b'hello, not an image', 'not_an_image'), (bomb.getvalue(), 'too_large')]:
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
      serve(images=tf.constant([data]))
    assert f'{reason}: ' in error.value.message
    assert dead_letters.reason_of_model_error(error.value.message)[0] == reason


def _semi_transparent_png():
  photo = Image.open(sample_photo_paths(4)[1]).convert('RGB')
  alpha = Image.linear_gradient('L').resize(photo.size)  # 0 (transparent) .. 255 (opaque), every level
  rgba = photo.copy()
  rgba.putalpha(alpha)
  buffer = io.BytesIO()
  rgba.save(buffer, format='PNG')
  return buffer.getvalue()


def test_serving_graph_composites_transparency_like_the_dataset_job():
  """The L the dataset job computes (contracts.decode: PIL, alpha on white) and the L the serving graph sees on the
  same semi-transparent PNG agree: the composited RGB within one level (1/255), hence L within a fraction of a
  unit."""
  import numpy as np
  import tensorflow as tf
  from contracts import colorspace
  from contracts import decode
  from trainer import export
  data = _semi_transparent_png()
  dataset_rgb = np.asarray(decode.decode_pil(data, min_side=1, max_pixels=10 ** 8), np.float32)
  serving_rgb = export.composite_on_white(export.decode_checked(tf.constant(data))).numpy()
  assert serving_rgb.shape == dataset_rgb.shape
  assert np.abs(serving_rgb - dataset_rgb).max() <= 1.0
  dataset_l = colorspace.rgb_to_lab(dataset_rgb / 255.0)[..., 0]
  serving_l = colorspace.rgb_to_lab(serving_rgb / 255.0)[..., 0]
  assert np.abs(serving_l - dataset_l).max() < 0.5
  # A decode that drops alpha would be far off where the photo is transparent.
  dropped = tf.io.decode_image(data, channels=3).numpy().astype(np.float32)
  assert np.abs(dropped - dataset_rgb).max() > 50


def test_serving_graph_decodes_jpeg_as_the_dataset_job_does():
  """JPEG: the serving graph's pixels are PIL's (the dataset job's decoder) exactly, the accurate integer IDCT;
  TensorFlow's default fast IDCT would differ on these photos."""
  import numpy as np
  import tensorflow as tf
  from contracts import decode
  from trainer import export
  fast_differs = []
  for path in sample_photo_paths(4):
    data = open(path, 'rb').read()
    assert data[:2] == b'\xff\xd8', path
    dataset_rgb = np.asarray(decode.decode_pil(data, min_side=1, max_pixels=10 ** 8), np.int16)
    serving = export.composite_on_white(export.decode_checked(tf.constant(data))).numpy().astype(np.int16)
    assert np.array_equal(serving, dataset_rgb), (path, np.abs(serving - dataset_rgb).max())
    fast = tf.io.decode_image(data, channels=3).numpy().astype(np.int16)
    fast_differs.append(np.abs(fast - dataset_rgb).max() > 0)
  assert any(fast_differs)


def test_saved_model_sees_the_composited_photo(pushed_models):
  """End to end through `serving_default`: a semi-transparent PNG colorizes exactly like the same photo composited
  on white by the dataset job's decoder (same L in, same ab out), within two levels (one level of
  compositing, then the Lab round trip)."""
  import numpy as np
  import tensorflow as tf
  from contracts import decode
  model, _ = model_store.load(str(pushed_models))
  serve = model.signatures['serving_default']
  data = _semi_transparent_png()
  buffer = io.BytesIO()
  decode.decode_pil(data, min_side=1, max_pixels=10 ** 8).save(buffer, format='PNG')
  pngs = serve(images=tf.constant([data, buffer.getvalue()]))['png'].numpy()
  transparent, composited = (np.asarray(Image.open(io.BytesIO(p)), np.int16) for p in pngs)
  assert np.abs(transparent - composited).max() <= 2
