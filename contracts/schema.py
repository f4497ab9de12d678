"""The Lab TFRecord schema: the contract between the dataset build and every later stage.

Every stage imports the names, dtypes and scaling from here; nothing else may re-derive them.

Schema version 1, one `tf.train.Example` per (photo, augmentation copy):

| feature             | dtype   | content                                                                      |
|---------------------|---------|------------------------------------------------------------------------------|
| `lab`               | bytes   | [3, H, W] uint8 planes L, a, b; 2-D difference coded (see below)             |
| `mask`              | bytes   | [H, W] uint8, 1 = photo, 0 = padding, same coding; empty = no padding        |
| `height`, `width`   | int64   | H, W                                                                         |
| `source_uri`        | bytes   | where the photo came from                                                    |
| `content_hash`      | bytes   | sha256 (hex) of the source file's bytes: dedup, split and seed key           |
| `augmentation_id`   | int64   | 0 = the unaugmented photo, k >= 1 = k-th augmented copy                      |
| `augmentation_seed` | int64   | seed the copy's random geometry was drawn from                               |
| `embedding`         | float[] | optional: frozen embedder output (name and size in the dataset manifest)     |

Quantization: `L_q = round(L * 255 / 100)` (step 0.39), `a_q = round(a) + 128`, `b_q = round(b) + 128` (step 1),
clipped to [0, 255].

Coding: each plane `p` is stored as `d[i, j] = p[i, j] - p[i-1, j] - p[i, j-1] + p[i-1, j-1]` modulo 256 (PNG's
"Paeth-free" gradient predictor). It is undone by two cumulative sums; the gzip TFRecord layer then compresses the
near-zero residuals to ~75 KB per 256x256 example (float32 planes cost 768 KB), with a single compression pass.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from contracts import dead_letters
from contracts import example_proto

SCHEMA_VERSION = 1

LAB = 'lab'
MASK = 'mask'
HEIGHT = 'height'
WIDTH = 'width'
SOURCE_URI = 'source_uri'
CONTENT_HASH = 'content_hash'
AUGMENTATION_ID = 'augmentation_id'
AUGMENTATION_SEED = 'augmentation_seed'
EMBEDDING = 'embedding'

L_SCALE = 255.0 / 100.0
AB_OFFSET = 128.0

# File layout of a dataset version (written by pipeline.build_dataset, read by the trainer and components). The
# split folders follow TFX's Examples artifact layout (`Split-<name>/`), so a dataset version is also a valid
# Examples artifact and the pipeline's example gen writes exactly what the stand-alone build writes.
MANIFEST_FILE = 'dataset.json'
DEAD_LETTERS_FILE = dead_letters.DEAD_LETTERS_FILE
SHARD_PATTERN = 'Split-{split}/data_tfrecord-{index:05d}-of-{count:05d}.gz'


def split_file_pattern(split: str) -> str:
  """Glob (relative to a dataset version) of one split's gzip TFRecord shards: SHARD_PATTERN, any index/count."""
  return re.sub(r'\{(index|count)[^}]*\}', '*', SHARD_PATTERN).format(split=split)


# ---- NumPy side (the Beam job, tests, evaluator) -------------------------------------------------------------


_PLANE_SCALE = np.array([L_SCALE, 1.0, 1.0], np.float32)[:, None, None]
_PLANE_OFFSET = np.array([0.5, AB_OFFSET + 0.5, AB_OFFSET + 0.5], np.float32)[:, None, None]


def quantize_lab_planes(planes: np.ndarray) -> np.ndarray:
  """float Lab planes [3, H, W] -> uint8 planes [3, H, W] (round half up, clipped to [0, 255])."""
  q = planes * _PLANE_SCALE
  q += _PLANE_OFFSET
  np.clip(q, 0.0, 255.0, out=q)
  return q.astype(np.uint8)  # truncation of x + 0.5 == rounding for x >= 0


def quantize_lab(lab: np.ndarray) -> np.ndarray:
  """float Lab [H, W, 3] -> uint8 planes [3, H, W]."""
  return quantize_lab_planes(np.moveaxis(np.asarray(lab, np.float32), -1, 0))


def dequantize_lab(planes) -> Any:
  """uint8-valued planes [..., 3, H, W] (NumPy or TF, as float) -> L in [0, 100] and ab, each [..., H, W]."""
  return planes[..., 0, :, :] / L_SCALE, planes[..., 1, :, :] - AB_OFFSET, planes[..., 2, :, :] - AB_OFFSET


def difference_code(planes: np.ndarray) -> bytes:
  """uint8 [..., H, W] -> bytes of the 2-D difference (mod 256) that `undo_difference_code` inverts."""
  p = planes.astype(np.uint8, copy=False)  # uint8 arithmetic wraps: exactly the difference mod 256
  d = p.copy()
  d[..., 1:, :] -= p[..., :-1, :]
  d[..., :, 1:] -= p[..., :, :-1]
  d[..., 1:, 1:] += p[..., :-1, :-1]
  return d.tobytes()


def undo_difference_code_numpy(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
  d = np.frombuffer(data, np.uint8).reshape(shape).astype(np.int64)
  return (np.cumsum(np.cumsum(d, axis=-1), axis=-2) & 255).astype(np.uint8)


def encode_example(quantized_planes: np.ndarray, mask: np.ndarray | None, *, source_uri: str, content_hash: str,
                   augmentation_id: int, augmentation_seed: int, embedding: np.ndarray | None = None) -> bytes:
  """Serializes one record.

  Args:
    quantized_planes: uint8 Lab planes [3, H, W] from `quantize_lab_planes` (or `lab_table`, which is equal).
    mask: bool/uint8 [H, W], true on photo pixels, or None when nothing is padding.
    source_uri, content_hash, augmentation_id, augmentation_seed: provenance (see the table above).
    embedding: optional precomputed embedder output.
  """
  if quantized_planes.dtype != np.uint8 or quantized_planes.ndim != 3 or quantized_planes.shape[0] != 3:
    raise ValueError(f'expected uint8 planes [3, H, W], got {quantized_planes.dtype} {quantized_planes.shape}')
  height, width = quantized_planes.shape[1:]
  mask_bytes = b'' if mask is None or mask.all() else difference_code(mask.astype(np.uint8))
  features = {
      LAB: example_proto.bytes_feature([difference_code(quantized_planes)]),
      MASK: example_proto.bytes_feature([mask_bytes]),
      HEIGHT: example_proto.int64_feature([height]),
      WIDTH: example_proto.int64_feature([width]),
      SOURCE_URI: example_proto.bytes_feature([source_uri.encode('utf-8')]),
      CONTENT_HASH: example_proto.bytes_feature([content_hash.encode('ascii')]),
      AUGMENTATION_ID: example_proto.int64_feature([augmentation_id]),
      AUGMENTATION_SEED: example_proto.int64_feature([augmentation_seed]),
  }
  if embedding is not None:
    features[EMBEDDING] = example_proto.float_feature(np.asarray(embedding, np.float32).ravel().tolist())
  return example_proto.serialize_example(features)


def decode_example_numpy(serialized: bytes) -> dict[str, Any]:
  """Parses one record into NumPy: `lab` float32 [H, W, 3], `mask` bool [H, W], and the provenance fields."""
  # Lazy: TensorFlow only for the tf.data parsers; the NumPy Beam workers start without its runtime.
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  example = example_pb2.Example.FromString(serialized)
  f = example.features.feature
  height, width = f[HEIGHT].int64_list.value[0], f[WIDTH].int64_list.value[0]
  planes = undo_difference_code_numpy(f[LAB].bytes_list.value[0], (3, height, width)).astype(np.float32)
  l, a, b = dequantize_lab(planes)
  mask_bytes = f[MASK].bytes_list.value[0]
  mask = (np.ones((height, width), bool) if not mask_bytes
          else undo_difference_code_numpy(mask_bytes, (height, width)).astype(bool))
  return {
      LAB: np.stack([l, a, b], axis=-1),
      MASK: mask,
      SOURCE_URI: f[SOURCE_URI].bytes_list.value[0].decode('utf-8'),
      CONTENT_HASH: f[CONTENT_HASH].bytes_list.value[0].decode('ascii'),
      AUGMENTATION_ID: f[AUGMENTATION_ID].int64_list.value[0],
      AUGMENTATION_SEED: f[AUGMENTATION_SEED].int64_list.value[0],
      EMBEDDING: np.asarray(f[EMBEDDING].float_list.value, np.float32),
  }


# ---- TensorFlow side (tf.data input of the trainer and evaluator) -------------------------------------------


def feature_spec(embedding_size: int = 0) -> Mapping[str, Any]:
  """`tf.io.parse_example` spec; `embedding_size` from the manifest when embeddings were precomputed."""
  # Lazy: TensorFlow only for the tf.data parsers; the NumPy Beam workers start without its runtime.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  spec = {
      LAB: tf.io.FixedLenFeature([], tf.string),
      MASK: tf.io.FixedLenFeature([], tf.string, default_value=b''),
      HEIGHT: tf.io.FixedLenFeature([], tf.int64),
      WIDTH: tf.io.FixedLenFeature([], tf.int64),
      SOURCE_URI: tf.io.FixedLenFeature([], tf.string),
      CONTENT_HASH: tf.io.FixedLenFeature([], tf.string),
      AUGMENTATION_ID: tf.io.FixedLenFeature([], tf.int64),
      AUGMENTATION_SEED: tf.io.FixedLenFeature([], tf.int64),
  }
  if embedding_size:
    spec[EMBEDDING] = tf.io.FixedLenFeature([embedding_size], tf.float32)
  return spec


def _undo_difference_code_tf(data, shape):
  # Lazy: TensorFlow only for the tf.data parsers; the NumPy Beam workers start without its runtime.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  d = tf.reshape(tf.cast(tf.io.decode_raw(data, tf.uint8), tf.int32), shape)
  return tf.bitwise.bitwise_and(tf.cumsum(tf.cumsum(d, axis=-1), axis=-2), 255)


def decode_lab_tf(parsed: Mapping[str, Any], image_size: int):
  """One parsed record -> (L [S, S, 1] in [0, 100], ab [S, S, 2], mask [S, S, 1] float) as float32 tensors."""
  # Lazy: TensorFlow only for the tf.data parsers; the NumPy Beam workers start without its runtime.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  planes = tf.cast(_undo_difference_code_tf(parsed[LAB], [3, image_size, image_size]), tf.float32)
  l, a, b = dequantize_lab(planes)
  mask = tf.cond(tf.strings.length(parsed[MASK]) > 0,
                 lambda: tf.cast(_undo_difference_code_tf(parsed[MASK], [image_size, image_size]), tf.float32),
                 lambda: tf.ones([image_size, image_size], tf.float32))
  return l[..., None], tf.stack([a, b], axis=-1), mask[..., None]
