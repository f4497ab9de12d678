"""Colorizing with a model's TFLite or ONNX export instead of its SavedModel: no TensorFlow needed.

    colorize photo.jpg --model=outputs/serving_model --runtime=tflite_int8

The trainer writes the exports next to each SavedModel (`<SavedModel>/runtimes/`, `contracts/runtime_exports.py`):
the network core alone, L at the model's resolution -> ab. Everything around it, the SavedModel's serving graph
(decoding, L, the area resize, upsampling ab, the colour conversion, PNG), is NumPy here (`serving.numpy_graph`),
and the photo is validated and decoded by the dataset job's decoder (`contracts.decode`), so a bad file fails with
the same reason as with the SavedModel (`ColorizeError`). The core runs in `ai-edge-litert`'s TFLite interpreter or
in ONNX Runtime, each imported only when its runtime is chosen.
"""

from __future__ import annotations

import json
import os
import threading

import numpy as np
from apache_beam.io.filesystems import FileSystems

from contracts import dead_letters
from contracts import decode
from contracts import runtime_exports as layout
from serving import colorizer as colorizer_lib
from serving import model_store
from serving import numpy_graph

# The package each runtime needs, as requirements/base.lock pins it.
PACKAGES = {
    layout.TFLITE_FLOAT16: 'ai-edge-litert',
    layout.TFLITE_INT8: 'ai-edge-litert',
    layout.ONNX: 'onnxruntime',
}


class ExportUnavailable(RuntimeError):
  """The chosen runtime cannot run this model: its export file is missing, or its runtime package is not
  installed; the message says which file or package, and how to get it."""


def _read(path: str) -> bytes:
  with FileSystems.open(path, compression_type='uncompressed') as f:
    return f.read()


def read_manifest(model_dir: str) -> dict | None:
  """The exports' manifest of the SavedModel at `model_dir`, or None when it has none."""
  path = layout.manifest_path(model_dir)
  if not FileSystems.exists(path):
    return None
  return json.loads(_read(path).decode('utf-8'))


def export_file(model_dir: str, runtime: str) -> str:
  """The path of `runtime`'s file of the SavedModel at `model_dir`; ExportUnavailable, naming the path and how to
  produce the file, when it is not there."""
  if runtime not in layout.FILES:
    raise ValueError(f'runtime must be one of {", ".join(layout.FILES)}, not {runtime!r}')
  path = layout.export_path(model_dir, runtime)
  if FileSystems.exists(path):
    return path
  manifest = read_manifest(model_dir)
  entry = ((manifest or {}).get('exports') or {}).get(runtime) or {}
  why = (f'the trainer did not write it: {entry["skipped"]}' if 'skipped' in entry else
         'this model was exported without runtime exports (no manifest either)' if manifest is None else
         'the manifest lists it, but the file is gone')
  raise ExportUnavailable(
      f'{path}: no {runtime} export ({why}). The trainer writes it next to the SavedModel when '
      'training.runtime_exports is true (the default): train the model again with it, or re-export its weights '
      f'without training (`python -m benchmarks.serve_weights --weights={model_dir}/warm_start/colorizer_weights.npz '
      '--dataset=<its dataset> --output=<folder>`), or colorize with --runtime=savedmodel.')


def _missing_package(runtime: str, error: ImportError) -> ExportUnavailable:
  return ExportUnavailable(f'--runtime={runtime} needs the {PACKAGES[runtime]} package, which is not installed '
                           f'({error}): pip install {PACKAGES[runtime]} (requirements/base.lock pins its version).')


class _TFLiteCore:
  """A TFLite export in ai-edge-litert's interpreter."""

  def __init__(self, model: bytes, runtime: str, threads: int):
    try:
      # Lazy: only this runtime needs the package (and none of them needs TensorFlow).
      from ai_edge_litert import interpreter as litert  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise _missing_package(runtime, e) from None
    self._interpreter = litert.Interpreter(model_content=model, num_threads=threads)
    self._interpreter.allocate_tensors()
    self._input = self._interpreter.get_input_details()[0]['index']
    self._output = self._interpreter.get_output_details()[0]['index']
    self.input_shape = tuple(int(d) for d in self._interpreter.get_input_details()[0]['shape'])
    self._lock = threading.Lock()  # one interpreter holds one set of tensors

  def __call__(self, l: np.ndarray) -> np.ndarray:
    with self._lock:
      self._interpreter.set_tensor(self._input, np.ascontiguousarray(l, np.float32))
      self._interpreter.invoke()
      return self._interpreter.get_tensor(self._output).copy()


class _OnnxCore:
  """An ONNX export in ONNX Runtime (CPU)."""

  def __init__(self, model: bytes, runtime: str, threads: int):
    try:
      import onnxruntime  # pylint: disable=g-import-not-at-top  (lazy, as in _TFLiteCore)
    except ImportError as e:
      raise _missing_package(runtime, e) from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: its graph-optimizer notes are not the user's business
    self._session = onnxruntime.InferenceSession(model, options, providers=['CPUExecutionProvider'])
    self._input = self._session.get_inputs()[0].name
    self._output = self._session.get_outputs()[0].name
    self.input_shape = tuple(self._session.get_inputs()[0].shape)

  def __call__(self, l: np.ndarray) -> np.ndarray:
    return self._session.run([self._output], {self._input: np.ascontiguousarray(l, np.float32)})[0]


_CORES = {layout.TFLITE_FLOAT16: _TFLiteCore, layout.TFLITE_INT8: _TFLiteCore, layout.ONNX: _OnnxCore}


def decode_photo(data: bytes) -> np.ndarray:
  """Encoded photo -> uint8 sRGB [H, W, 3] by the dataset job's decoder (EXIF orientation applied, transparency
  on white), with the serving tools' formats and pixel limit; ColorizeError with the reason otherwise."""
  try:
    image = decode.decode_pil(data, min_side=1, max_pixels=colorizer_lib.MAX_PIXELS, formats=colorizer_lib.FORMATS)
  except decode.UnusableImage as e:
    raise colorizer_lib.ColorizeError(e.reason, e.detail) from None
  return np.asarray(image)


class RuntimeColorizer:
  """A model's TFLite or ONNX export, loaded: `colorize` as `serving.colorizer.Colorizer` has it.

  Args:
    model_path: A SavedModel folder or a pushed-model folder (its newest version), local or gs://.
    runtime: One of `contracts.runtime_exports.FILES` (tflite_float16, tflite_int8, onnx).
    threads: Threads of the network core (default: every CPU core).
  """

  def __init__(self, model_path: str, runtime: str, threads: int | None = None):
    self.model_dir = model_store.resolve(model_path)
    self.runtime = runtime
    self.path = export_file(self.model_dir, runtime)
    manifest = read_manifest(self.model_dir) or {}
    self._core = _CORES[runtime](_read(self.path), runtime, threads or os.cpu_count() or 1)
    self.image_size = int(manifest.get('image_size') or self._core.input_shape[1])
    if self._core.input_shape[1:3] != (self.image_size, self.image_size):
      raise ExportUnavailable(f'{self.path}: its input is {self._core.input_shape}, the manifest says '
                              f'{self.image_size} px: the folder mixes two exports')

  def predict_ab(self, l_small: np.ndarray) -> np.ndarray:
    """L float32 [1, S, S, 1] in [0, 100] -> ab [1, S, S, 2]: the network core alone."""
    return self._core(l_small)

  def colorize(self, data: bytes) -> bytes:
    """Encoded photo (JPEG/PNG/GIF/BMP/WebP/TIFF, colour or gray) -> colorized PNG at its original resolution.

    Raises:
      ColorizeError: with the reason (`decode_photo`), or `inference_failed` when the runtime fails.
    """
    rgb8 = decode_photo(data)
    try:
      return numpy_graph.colorize(rgb8, self.predict_ab, self.image_size)
    except (RuntimeError, ValueError) as e:
      raise colorizer_lib.ColorizeError(dead_letters.INFERENCE_FAILED, f'{self.runtime}: {e}') from None
