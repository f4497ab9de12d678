"""Exports of the network core for runtimes other than TensorFlow, written next to the SavedModel.

`write_exports` (called by the trainer's export step, `trainer/finish.py`) traces the prediction path of the
SavedModel's signatures (L scaling, the embedder if any, flip averaging, the output decoding) at a fixed input,
`l` float32 [1, S, S, 1] at the model's resolution S, and converts it:

- `colorizer_float16.tflite`: tf.lite.TFLiteConverter, float16 weights (`Optimize.DEFAULT` + float16 type);
- `colorizer_int8.tflite`: tf.lite.TFLiteConverter, int8 dynamic-range weights (`Optimize.DEFAULT`, no
  representative data: weights int8, activations float, quantized per channel on the fly);
- `colorizer.onnx`: tf2onnx (`tf2onnx.convert.from_function`), float32, when tf2onnx is installed; without it the
  manifest says so and the run goes on.

Only TFLite builtin ops are allowed (no Flex/Select TF ops), so the files run in `ai-edge-litert` without
TensorFlow. The layout and the file names: `contracts/runtime_exports.py`. Everything goes through tf.io.gfile, so
gs:// works as a local path does.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from typing import Any

from absl import logging as absl_logging
import tensorflow as tf

from contracts import runtime_exports as layout
from trainer import scaling
from trainer.objective import flip_averaging as flip_averaging_lib

ONNX_OPSET = 17


def core_function(colorizer, embedder, image_size: int, output_to_ab=scaling.unscale_ab,
                  flip_averaging: str = '') -> tf.types.experimental.ConcreteFunction:
  """The network core as a concrete function: `l` [1, S, S, 1] (L in [0, 100]) -> {'ab': [1, S, S, 2]}.

  The steps of `trainer.export`'s `ab_at_model_size` on an input already at the model's resolution, less its area
  resize to S (an identity here, and an op TFLite's builtins lack): L scaled, the embedding of the gray image if
  the network has an embedder, the output (flip-averaged as configured) decoded to ab units. The parity tests hold
  each export to the SavedModel's colours (tests/unit/serving/test_runtime_exports.py).
  """

  @tf.function(input_signature=[tf.TensorSpec([1, image_size, image_size, 1], tf.float32, name=layout.INPUT_NAME)])
  def predict(l):
    l_scaled = scaling.scale_l(l)
    features = {'l': l_scaled}
    if embedder is not None:
      features['embedding'] = embedder(scaling.gray_to_rgb_0_255(l_scaled, embedder.input_size))
    ab = output_to_ab(flip_averaging_lib.predict_output(colorizer, features, flip_averaging))
    return {layout.OUTPUT_NAME: tf.identity(ab, name=layout.OUTPUT_NAME)}

  return predict.get_concrete_function()


def to_tflite(function, weights: str) -> bytes:
  """The concrete function as a TFLite flatbuffer; `weights` 'float16' or 'int8' (dynamic range).

  No trackable object is handed to the converter: it then freezes the function's variables into constants itself
  (with one, it goes through a SavedModel and keeps some as READ_VARIABLE ops, which the interpreter cannot read).
  """
  if weights not in ('float16', 'int8'):
    raise ValueError(f'weights must be float16 or int8, not {weights!r}')
  logger = absl_logging.get_absl_logger()
  level = logger.level
  logger.setLevel(logging.ERROR)  # its warnings about the deprecated path (chosen above), once per call
  try:
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
    converter.experimental_enable_resource_variables = False
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if weights == 'float16':
      converter.target_spec.supported_types = [tf.float16]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # runs without TensorFlow
    return converter.convert()
  finally:
    logger.setLevel(level)


def to_onnx(function) -> bytes:
  """The concrete function as an ONNX model (tf2onnx; ImportError when it is not installed)."""
  # Lazy: tf2onnx is optional; without it the manifest records why no ONNX file was written.
  import tf2onnx  # pylint: disable=g-import-not-at-top
  spec = function.structured_input_signature[0][0]
  logger = logging.getLogger('tf2onnx')
  level = logger.level
  logger.setLevel(logging.WARNING)  # its versions, opset and optimizer counts at INFO, on every run
  try:
    with tempfile.TemporaryDirectory() as tmp:  # tf2onnx writes its file through the local filesystem
      path = os.path.join(tmp, 'colorizer.onnx')
      tf2onnx.convert.from_function(tf.function(function), input_signature=[spec], opset=ONNX_OPSET,
                                    output_path=path)
      with open(path, 'rb') as f:
        return f.read()
  finally:
    logger.setLevel(level)


def _write(path: str, data: bytes) -> None:
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path + '.tmp', 'wb') as f:
    f.write(data)
  tf.io.gfile.rename(path + '.tmp', path, overwrite=True)


def write_exports(colorizer, embedder, image_size: int, export_dir: str, output_to_ab=scaling.unscale_ab,
                  flip_averaging: str = '', enabled: bool = True) -> dict[str, Any]:
  """Writes the exports of `contracts.runtime_exports` into `<export_dir>/runtimes/`; returns the manifest.

  The arguments are `trainer.export.export_saved_model`'s, so the files predict what the SavedModel predicts. A
  TFLite conversion that fails fails the run (a graph that TFLite's builtins cannot express is a bug to see);
  ONNX needs tf2onnx, and its absence or failure is recorded in the manifest instead. `enabled=False`
  (`training.runtime_exports`) writes only the manifest, which says why each file is missing; so does a network
  that computes in a 16-bit float type (`training.precision` mixed_*), which neither TFLite's builtin kernels nor
  ONNX Runtime's CPU kernels run.
  """
  compute_dtype = str(getattr(colorizer, 'compute_dtype', 'float32'))
  reason = ('' if compute_dtype == 'float32' else
             f'the network computes in {compute_dtype} (training.precision), which TFLite\'s builtin kernels and '
             'ONNX Runtime\'s CPU kernels lack: export it with training.precision=float32')
  if not enabled:
    reason = 'the trainer ran with training.runtime_exports=false'
  function = None if reason else core_function(colorizer, embedder, image_size, output_to_ab, flip_averaging)
  manifest: dict[str, Any] = {
      'input': {'name': layout.INPUT_NAME, 'shape': [1, image_size, image_size, 1], 'dtype': 'float32',
                'meaning': 'L in [0, 100] (CIE Lab, D65), the photo area-resized to the model resolution'},
      'output': {'name': layout.OUTPUT_NAME, 'shape': [1, image_size, image_size, 2], 'dtype': 'float32',
                 'meaning': 'a, b in Lab units at the model resolution'},
      'image_size': image_size, 'flip_averaging': flip_averaging or 'off', 'exports': {},
  }
  builders = {layout.TFLITE_FLOAT16: lambda: to_tflite(function, 'float16'),
              layout.TFLITE_INT8: lambda: to_tflite(function, 'int8'),
              layout.ONNX: lambda: to_onnx(function)}
  for runtime, build in builders.items():
    start = time.perf_counter()
    entry: dict[str, Any] = {'file': layout.FILES[runtime]}
    if reason:
      entry['skipped'] = reason
      manifest['exports'][runtime] = entry
      continue
    try:
      data = build()
    except ImportError as e:
      if runtime != layout.ONNX:
        raise
      entry['skipped'] = f'tf2onnx is not installed ({e})'
    except Exception as e:  # pylint: disable=broad-except
      if runtime != layout.ONNX:
        raise
      entry['skipped'] = f'tf2onnx could not convert the model: {type(e).__name__}: {str(e)[:300]}'
    else:
      _write(layout.export_path(export_dir, runtime), data)
      entry.update(bytes=len(data), seconds=round(time.perf_counter() - start, 2))
    manifest['exports'][runtime] = entry
  _write(layout.manifest_path(export_dir), json.dumps(manifest, indent=2).encode('utf-8'))
  written = ', '.join(f'{r} ({e["bytes"] / 1e6:.1f} MB)' for r, e in manifest['exports'].items() if 'bytes' in e)
  missing = '; '.join(f'{r}: {e["skipped"]}' for r, e in manifest['exports'].items() if 'skipped' in e)
  where = os.path.join(export_dir, layout.EXPORTS_DIR)
  if reason:
    print(f'runtime exports: none written in {where} ({reason})', flush=True)
  else:
    print(f'runtime exports in {where}: {written}' + (f'; not written: {missing}' if missing else ''), flush=True)
  return manifest
