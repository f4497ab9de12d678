"""The layout of a model's exports for runtimes other than TensorFlow, written by the trainer next to the SavedModel
(`trainer/runtime_exports.py`) and read by the serving tools (`serving/runtimes.py`).

    <SavedModel folder>/runtimes/colorizer_float16.tflite    TFLite, float16 weights
    <SavedModel folder>/runtimes/colorizer_int8.tflite       TFLite, int8 dynamic-range weights
    <SavedModel folder>/runtimes/colorizer.onnx              ONNX (tf2onnx), float32
    <SavedModel folder>/runtimes/manifest.json               what each file is, or why it was not written

Each file is the network core only, the part that needs TensorFlow otherwise: `l` (float32 [1, S, S, 1], L in
[0, 100] at the model's resolution S) -> `ab` (float32 [1, S, S, 2], ab units). Decoding, the colour conversion,
resizing and PNG encoding are NumPy in the serving tools. The Pusher copies the folder with the SavedModel, so every
pushed version carries its exports (TF's loaders and TF Serving ignore it).
"""

from __future__ import annotations

# Not a name starting with 'export': TFX's serving_model_path looks for an Estimator 'export' folder next to it,
# and a filesystem that matches by prefix (ram://) would take 'exports' for it.
EXPORTS_DIR = 'runtimes'
MANIFEST_FILE = 'manifest.json'

SAVED_MODEL = 'savedmodel'
TFLITE_FLOAT16 = 'tflite_float16'
TFLITE_INT8 = 'tflite_int8'
ONNX = 'onnx'
# The runtimes `colorize --runtime` offers, the SavedModel first (the default).
RUNTIMES = (SAVED_MODEL, TFLITE_FLOAT16, TFLITE_INT8, ONNX)
# The file of each export, in EXPORTS_DIR.
FILES = {
    TFLITE_FLOAT16: 'colorizer_float16.tflite',
    TFLITE_INT8: 'colorizer_int8.tflite',
    ONNX: 'colorizer.onnx',
}
INPUT_NAME = 'l'
OUTPUT_NAME = 'ab'

# Mean CIE76 ΔE (Lab) of each export's colorized photo from the SavedModel's, on bundled photos given to both as
# the same pixels (PNG), that the tests assert (tests/unit/serving/test_runtime_exports.py) and docs/benchmarks.md
# states: the shipped model measures 0.00 (ONNX: the same float32 graph), about 0.06 (float16 weights) and 1.0 (int8
# weights), while its ab scaled by 0.8 is 2.9-3.5 away. On JPEG files the decoders differ (the SavedModel's
# TensorFlow decoder uses the fast integer inverse DCT, PIL the accurate one, as the dataset build does: up to 7
# levels apart), which adds about 0.4 to every runtime; benchmarks/results/runtimes.json has both figures.
MAX_MEAN_DELTA_E = {
    TFLITE_FLOAT16: 0.25,
    TFLITE_INT8: 1.6,
    ONNX: 0.05,
}


def export_path(model_dir: str, runtime: str) -> str:
  """Where `runtime`'s file of the SavedModel at `model_dir` is (local or gs://: '/'-joined)."""
  return '/'.join([model_dir.rstrip('/'), EXPORTS_DIR, FILES[runtime]])


def manifest_path(model_dir: str) -> str:
  return '/'.join([model_dir.rstrip('/'), EXPORTS_DIR, MANIFEST_FILE])
