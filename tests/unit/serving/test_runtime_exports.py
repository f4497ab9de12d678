"""The TFLite and ONNX exports of a real model (the shipped weights, exported by the trainer with no training step),
run without TensorFlow: the files and their manifest, the colours against the SavedModel's on bundled photos, the
`colorize --runtime` CLI, and the errors for a missing export or runtime package."""

import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

import configs
from contracts import colorspace
from contracts import runtime_exports as layout
from pipeline import build_dataset
from tests.conftest import REPO
from tests.conftest import TINY_MODEL
from tests.conftest import TINY_SPLITS
from tests.conftest import copy_sample_photos
from tests.conftest import sample_photo_paths
from trainer import train as train_lib

SHIPPED = os.path.join(REPO, 'trainer', 'pretrained', 'colorizer_unet_128.npz')
EXPORTS = tuple(layout.FILES)
PARITY_PHOTOS = 6


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  """8 bundled photos at the shipped model's 128 px, half of them the eval split the decoding is chosen on."""
  photos = copy_sample_photos(tmp_path_factory.mktemp('runtime_photos'), 8)
  config = configs.load_config(overrides=[f'data.input_uri={photos}', *TINY_SPLITS, 'data.image_size=128',
                                          f'data.output_dir={tmp_path_factory.mktemp("runtime_ds")}'])
  return build_dataset.run_build(config).version_dir


@pytest.fixture(scope='module')
def served(dataset, tmp_path_factory):
  """The shipped weights as `benchmarks.serve_weights` serves them: SavedModel and exports."""
  config = configs.load_config(os.path.join(REPO, 'configs', 'shipped_colorizer.yaml'), overrides=[
      f'training.warm_start_from={SHIPPED}', 'evaluation.split=eval', 'training.runtime_exports=true'])
  return train_lib.train(config, dataset, str(tmp_path_factory.mktemp('runtime_served')), max_steps=0).export_dir


def _mean_delta_e(png_a: bytes, png_b: bytes) -> float:
  """Mean CIE76 ΔE between two 8-bit sRGB images, in Lab."""
  a, b = (colorspace.rgb8_to_lab(np.asarray(Image.open(io.BytesIO(p)).convert('RGB'))) for p in (png_a, png_b))
  assert a.shape == b.shape
  return float(np.sqrt(((a.astype(np.float64) - b) ** 2).sum(-1)).mean())


@pytest.fixture(scope='module')
def savedmodel_pngs(served):
  """[(photo's bytes, the SavedModel's colorized PNG)] for a few bundled photos, JPEG files as users have them
  (both paths decode a JPEG to the same pixels: the accurate integer inverse DCT, as PIL's)."""
  from serving import colorizer as colorizer_lib  # pylint: disable=g-import-not-at-top
  colorizer = colorizer_lib.Colorizer(served)
  photos = [open(path, 'rb').read() for path in sample_photo_paths(PARITY_PHOTOS)]
  return [(data, colorizer.colorize(data)) for data in photos]


def test_every_export_is_written_and_the_manifest_describes_it(served):
  manifest = json.load(open(layout.manifest_path(served)))
  assert manifest['image_size'] == 128 and manifest['flip_averaging'] == 'keep_chroma'
  assert manifest['input']['shape'] == [1, 128, 128, 1] and manifest['output']['shape'] == [1, 128, 128, 2]
  assert set(manifest['exports']) == set(EXPORTS)
  for runtime in EXPORTS:
    entry = manifest['exports'][runtime]
    assert 'skipped' not in entry, entry
    assert entry['file'] == layout.FILES[runtime]
    assert os.path.getsize(layout.export_path(served, runtime)) == entry['bytes']
  sizes = {r: manifest['exports'][r]['bytes'] for r in EXPORTS}
  assert sizes[layout.TFLITE_INT8] < 0.7 * sizes[layout.TFLITE_FLOAT16] < 0.7 * sizes[layout.ONNX]  # 1, 2, 4 bytes


@pytest.mark.parametrize('runtime', EXPORTS)
def test_each_export_colorizes_the_bundled_photos_as_the_savedmodel_does(served, savedmodel_pngs, runtime):
  """Mean ΔE over the photos within `MAX_MEAN_DELTA_E`; the same photos with the export's ab scaled by 0.8 (a wrong
  scaling) or left out (gray) are far outside it, so the bound would catch a broken export."""
  from serving import numpy_graph  # pylint: disable=g-import-not-at-top
  from serving import runtimes  # pylint: disable=g-import-not-at-top
  colorizer = runtimes.RuntimeColorizer(served, runtime)
  assert colorizer.image_size == 128
  close, scaled, gray = [], [], []
  for data, reference in savedmodel_pngs:
    png = colorizer.colorize(data)
    assert Image.open(io.BytesIO(png)).size == Image.open(io.BytesIO(data)).size
    close.append(_mean_delta_e(png, reference))
    rgb8 = runtimes.decode_photo(data)
    scaled.append(_mean_delta_e(numpy_graph.colorize(rgb8, lambda l: 0.8 * colorizer.predict_ab(l), 128), reference))
    gray.append(_mean_delta_e(numpy_graph.colorize(rgb8, lambda l: 0.0 * colorizer.predict_ab(l), 128), reference))
  bound = layout.MAX_MEAN_DELTA_E[runtime]
  print(f'{runtime}: mean ΔE {np.mean(close):.3f} (bound {bound}); ab x 0.8: {np.mean(scaled):.2f}; '
        f'gray: {np.mean(gray):.2f}')
  assert np.mean(close) <= bound
  assert np.mean(scaled) > 1.5 * bound and np.mean(gray) > 3 * bound


NO_TENSORFLOW = """
import atexit, sys
atexit.register(lambda: print('tensorflow imported:', 'tensorflow' in sys.modules, flush=True))
sys.argv = ['colorize', *sys.argv[1:]]
from serving import cli
cli.console_main()
"""


@pytest.mark.parametrize('runtime', EXPORTS)
def test_the_cli_colorizes_with_each_export_without_importing_tensorflow(served, runtime, tmp_path):
  photo = sample_photo_paths(2)[1]
  Image.open(photo).convert('L').save(tmp_path / 'old.png')
  run = subprocess.run([sys.executable, '-c', NO_TENSORFLOW, photo, str(tmp_path / 'old.png'), f'--model={served}',
                        f'--output={tmp_path / "out"}', f'--runtime={runtime}',
                        f'--framework_log_dir={tmp_path / "logs"}'],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
  assert run.returncode == 0, run.stderr
  assert 'tensorflow imported: False' in run.stdout, run.stdout + run.stderr
  assert f'Model: {layout.export_path(served, runtime)} ({runtime})' in run.stderr
  assert '2 colorized, 0 failed' in run.stderr
  stem = os.path.splitext(os.path.basename(photo))[0]
  assert Image.open(tmp_path / 'out' / f'{stem}.png').size == Image.open(photo).size
  assert Image.open(tmp_path / 'out' / 'old.png').mode == 'RGB'


WEB_WITHOUT_TENSORFLOW = """
import json, sys, urllib.error, urllib.request
from serving import web
server = web.serve(sys.argv[1], port=0, samples_dir=sys.argv[3], runtime=sys.argv[2])
def post(path, data, name):
  request = urllib.request.Request(server.url + path, data=data, headers={'X-Filename': name})
  try:
    with urllib.request.urlopen(request, timeout=120) as response:
      return response.status, response.read()
  except urllib.error.HTTPError as e:
    return e.code, e.read()
status, png = post('/api/colorize', open(sys.argv[4], 'rb').read(), 'photo.jpg')
open(sys.argv[5], 'wb').write(png)
clip_status, clip_body = post('/api/colorize_clip', b'not read', 'clip.mp4')
server.shutdown()
print(json.dumps({'status': status, 'clip_status': clip_status, 'clip': json.loads(clip_body),
                  'tensorflow': 'tensorflow' in sys.modules}))
"""


def test_the_web_page_colorizes_with_an_export_without_importing_tensorflow(served, tmp_path):
  """colorize-web --runtime=tflite_int8: an upload comes back as the export colorizes it (the same PNG bytes as
  RuntimeColorizer in this process), a clip gets 501 with its reason, and TensorFlow is never imported."""
  from serving import runtimes  # pylint: disable=g-import-not-at-top
  photo = sample_photo_paths(3)[2]
  run = subprocess.run([sys.executable, '-c', WEB_WITHOUT_TENSORFLOW, served, layout.TFLITE_INT8,
                        os.path.dirname(photo), photo, str(tmp_path / 'answer.png')],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
  assert run.returncode == 0, run.stderr[-3000:]
  answer = json.loads(run.stdout.strip().splitlines()[-1])
  assert answer['status'] == 200 and answer['tensorflow'] is False, answer
  assert answer['clip_status'] == 501 and answer['clip']['reason'] == 'clips_need_savedmodel', answer
  expected = runtimes.RuntimeColorizer(served, layout.TFLITE_INT8).colorize(open(photo, 'rb').read())
  assert (tmp_path / 'answer.png').read_bytes() == expected


def test_bad_files_fail_with_the_savedmodels_reasons(served):
  from serving import colorizer as colorizer_lib  # pylint: disable=g-import-not-at-top
  from serving import runtimes  # pylint: disable=g-import-not-at-top
  colorizer = runtimes.RuntimeColorizer(served, layout.TFLITE_INT8)
  data = open(sample_photo_paths(1)[0], 'rb').read()
  for bad, reason in [(b'', 'empty'), (b'just some notes', 'not_an_image'), (data[: len(data) // 2], 'truncated')]:
    with pytest.raises(colorizer_lib.ColorizeError, match=f'^{reason}: '):
      colorizer.colorize(bad)


MISSING_PACKAGE = """
import sys
sys.modules['onnxruntime'] = None  # as if it were not installed: its import raises ImportError
from serving import runtimes
try:
  runtimes.RuntimeColorizer(sys.argv[1], 'onnx')
except runtimes.ExportUnavailable as e:
  print(e)
"""


def test_a_missing_runtime_package_says_what_to_install(served):
  run = subprocess.run([sys.executable, '-c', MISSING_PACKAGE, served], capture_output=True, text=True, cwd=REPO,
                       timeout=120)
  assert run.returncode == 0, run.stderr
  assert '--runtime=onnx needs the onnxruntime package' in run.stdout and 'pip install onnxruntime' in run.stdout


def test_runtime_exports_off_writes_only_the_manifest_saying_why(dataset, tmp_path):
  from serving import cli  # pylint: disable=g-import-not-at-top
  from serving import runtimes  # pylint: disable=g-import-not-at-top
  config = configs.load_config(overrides=[*TINY_MODEL, 'evaluation.split=eval', 'training.runtime_exports=false'])
  export_dir = train_lib.train(config, dataset, str(tmp_path / 'train'), max_steps=1).export_dir
  assert os.listdir(os.path.join(export_dir, layout.EXPORTS_DIR)) == [layout.MANIFEST_FILE]
  manifest = json.load(open(layout.manifest_path(export_dir)))
  assert {r: e['skipped'] for r, e in manifest['exports'].items()} == {
      r: 'the trainer ran with training.runtime_exports=false' for r in EXPORTS}
  with pytest.raises(runtimes.ExportUnavailable) as error:
    runtimes.RuntimeColorizer(export_dir, layout.ONNX)
  message = str(error.value)
  assert layout.export_path(export_dir, layout.ONNX) in message and 'training.runtime_exports=false' in message
  assert '--runtime=savedmodel' in message
  terminal = io.StringIO()
  status = cli.run([sample_photo_paths(1)[0]], export_dir, str(tmp_path / 'out'), terminal=terminal,
                   runtime=layout.TFLITE_FLOAT16)
  assert status == 1 and terminal.getvalue().startswith(f'error: {layout.export_path(export_dir, layout.TFLITE_FLOAT16)}')
  assert not (tmp_path / 'out').exists()


def test_a_network_computing_in_bfloat16_is_exported_without_runtime_exports_saying_why(dataset, tmp_path):
  """Mixed precision (GPUs, TPUs): TFLite's builtin kernels have no bfloat16 convolutions; the run goes on."""
  config = configs.load_config(overrides=[*TINY_MODEL, 'evaluation.split=eval', 'training.runtime_exports=true',
                                          'training.precision=mixed_bfloat16'])
  export_dir = train_lib.train(config, dataset, str(tmp_path / 'train'), max_steps=1).export_dir
  manifest = json.load(open(layout.manifest_path(export_dir)))
  for entry in manifest['exports'].values():
    assert entry['skipped'].startswith('the network computes in bfloat16 (training.precision)'), entry
    assert 'training.precision=float32' in entry['skipped']
  assert os.listdir(os.path.join(export_dir, layout.EXPORTS_DIR)) == [layout.MANIFEST_FILE]


def test_a_model_without_exports_names_the_path_and_how_to_produce_them(served, tmp_path):
  from serving import runtimes  # pylint: disable=g-import-not-at-top
  old = tmp_path / 'old_model'
  shutil.copytree(served, old, ignore=shutil.ignore_patterns(layout.EXPORTS_DIR))
  with pytest.raises(runtimes.ExportUnavailable, match=r'without runtime exports \(no manifest either\)') as error:
    runtimes.RuntimeColorizer(str(old), layout.TFLITE_INT8)
  assert layout.export_path(str(old), layout.TFLITE_INT8) in str(error.value)
  assert 'training.runtime_exports is true' in str(error.value)
