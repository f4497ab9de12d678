"""Size, speed and colours of a model's runtime exports against its SavedModel (what `colorize --runtime` runs).

    .venv/bin/python -m benchmarks.bench_runtimes --model=outputs/shipped_served/export --photos=sample_photos

For each runtime (`contracts.runtime_exports.RUNTIMES`: the SavedModel, TFLite with float16 or int8 weights,
ONNX): the model's file size; latency percentiles at ~1 megapixel (each photo resized to 1,000,000 pixels as a gray
JPEG, as benchmarks/bench_colorize.py does), every runtime colorizing each photo in turn in one process, on the
machine's cores; the time from a fresh process to its first colorized photo (imports and loading included) and
that process's peak memory; and the mean CIE76 ΔE of its colorized photos from the SavedModel's on the bundled
photos, given to both as the same pixels (PNG: the figure `contracts.runtime_exports.MAX_MEAN_DELTA_E` bounds), as
the JPEG files themselves, and on the timed gray JPEGs (on JPEG, TensorFlow's decoder in the SavedModel uses the
fast integer inverse DCT, PIL the accurate one: a few levels apart).
"""

from __future__ import annotations

import glob
import io
import json
import os
import subprocess
import sys
import time
from typing import Sequence

from absl import app
from absl import flags
import numpy as np

import benchmarks

FLAGS = flags.FLAGS
flags.DEFINE_string('model', 'outputs/serving_model', 'SavedModel or pushed-model folder, with its runtimes/ folder.')
flags.DEFINE_string('photos', 'sample_photos', 'Folder of photos.')
flags.DEFINE_integer('count', 30, 'Photos timed and compared.')
flags.DEFINE_string('output', 'benchmarks/results/runtimes.json', 'Where the JSON results go.')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A fresh process: imports, loading the model, one photo colorized; then what it imported and its peak memory.
_FIRST_PHOTO_PROBE = """
import json, sys, time
start = time.perf_counter()
model, runtime, photo = sys.argv[1:4]
if runtime == 'savedmodel':
  from serving import colorizer as colorizer_lib
  colorizer = colorizer_lib.Colorizer(model)
else:
  from serving import runtimes
  colorizer = runtimes.RuntimeColorizer(model, runtime)
colorizer.colorize(open(photo, 'rb').read())
seconds = time.perf_counter() - start
# VmHWM, not getrusage's ru_maxrss: Linux carries the latter over from the parent across fork and exec.
peak_kib = next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM:'))
print(json.dumps({'seconds': seconds, 'tensorflow_imported': 'tensorflow' in sys.modules, 'peak_rss_mib': peak_kib / 1024}))
"""


def _delta_e(png_a: bytes, png_b: bytes) -> float:
  """Mean CIE76 ΔE between two 8-bit sRGB images (`contracts.colorspace` Lab)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from contracts import colorspace  # pylint: disable=g-import-not-at-top
  a, b = (colorspace.rgb8_to_lab(np.asarray(Image.open(io.BytesIO(p)).convert('RGB'))).astype(np.float64)
          for p in (png_a, png_b))
  return float(np.sqrt(((a - b) ** 2).sum(-1)).mean())


def _as_png(path: str) -> bytes:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  buffer = io.BytesIO()
  Image.open(path).convert('RGB').save(buffer, format='PNG')
  return buffer.getvalue()


def _model_bytes(model_dir: str, runtime: str) -> int:
  """The file a runtime loads; for the SavedModel, its graph and variables (not the folders beside them)."""
  from contracts import runtime_exports as layout  # pylint: disable=g-import-not-at-top
  if runtime != layout.SAVED_MODEL:
    return os.path.getsize(layout.export_path(model_dir, runtime))
  files = [os.path.join(model_dir, 'saved_model.pb')] + glob.glob(os.path.join(model_dir, 'variables', '*'))
  return sum(os.path.getsize(f) for f in files)


def _first_photo(model_dir: str, runtime: str, photo: str) -> dict:
  probe = subprocess.run([sys.executable, '-c', _FIRST_PHOTO_PROBE, model_dir, runtime, photo], capture_output=True,
                         text=True, check=True, cwd=ROOT)
  return json.loads(probe.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str]) -> None:
  del argv
  from contracts import runtime_exports as layout  # pylint: disable=g-import-not-at-top
  from serving import colorizer as colorizer_lib  # pylint: disable=g-import-not-at-top
  from serving import runtimes  # pylint: disable=g-import-not-at-top
  paths = sorted(glob.glob(os.path.join(FLAGS.photos, '**', '*.jpg'), recursive=True))[:FLAGS.count]
  colorizers = {layout.SAVED_MODEL: colorizer_lib.Colorizer(FLAGS.model)}
  model_dir = colorizers[layout.SAVED_MODEL].model_dir
  for runtime in layout.FILES:
    colorizers[runtime] = runtimes.RuntimeColorizer(model_dir, runtime)
  for colorizer in colorizers.values():
    colorizer.colorize(open(paths[0], 'rb').read())  # trace the graph, warm up the interpreters
  one_mp = [benchmarks.one_megapixel_gray_jpeg(p) for p in paths]
  latencies = {name: [] for name in colorizers}
  gray_out = {name: [] for name in colorizers}
  for i, data in enumerate(one_mp):
    order = list(colorizers) if i % 2 == 0 else list(colorizers)[::-1]  # alternate who goes first
    for name in order:
      start = time.perf_counter()
      gray_out[name].append(colorizers[name].colorize(data))
      latencies[name].append(time.perf_counter() - start)
  inputs = {'png': [_as_png(p) for p in paths], 'jpeg': [open(p, 'rb').read() for p in paths]}
  reference = {kind: [colorizers[layout.SAVED_MODEL].colorize(d) for d in datas] for kind, datas in inputs.items()}
  results = {'photos': len(paths), 'cpus': os.cpu_count(), 'path': benchmarks.shown_path(model_dir),
             'image_size': colorizers[layout.TFLITE_FLOAT16].image_size, 'runtimes': {}}
  for name, colorizer in colorizers.items():
    row = {
        'file': ('saved_model.pb + variables/' if name == layout.SAVED_MODEL
                 else f'{layout.EXPORTS_DIR}/{layout.FILES[name]}'),
        'bytes': _model_bytes(model_dir, name),
        'one_megapixel_latency_s': {f'p{q}': float(np.percentile(latencies[name], q)) for q in (50, 90, 99)},
        'one_megapixel_images_per_s': len(latencies[name]) / sum(latencies[name]),
        'first_photo_in_a_fresh_process': _first_photo(model_dir, name, paths[0]),
    }
    if name != layout.SAVED_MODEL:
      row['mean_delta_e'] = {
          kind: float(np.mean([_delta_e(colorizer.colorize(d), r) for d, r in zip(inputs[kind], reference[kind])]))
          for kind in inputs}
      row['mean_delta_e']['one_megapixel_gray_jpeg'] = float(np.mean(
          [_delta_e(a, b) for a, b in zip(gray_out[name], gray_out[layout.SAVED_MODEL])]))
      row['max_mean_delta_e'] = layout.MAX_MEAN_DELTA_E[name]
    results['runtimes'][name] = row
  benchmarks.write_results(FLAGS.output, results)
  for name, r in results['runtimes'].items():
    lat, first = r['one_megapixel_latency_s'], r['first_photo_in_a_fresh_process']
    delta = r.get('mean_delta_e')
    print(f'{name}: {r["bytes"] / 1e6:.1f} MB; 1 MP p50 {lat["p50"]:.3f} s, p90 {lat["p90"]:.3f} s; first photo in '
          f'{first["seconds"]:.1f} s, peak RSS {first["peak_rss_mib"]:.0f} MiB'
          + (f'; mean ΔE {delta["png"]:.3f} (PNG), {delta["jpeg"]:.3f} (JPEG), '
             f'{delta["one_megapixel_gray_jpeg"]:.3f} (1 MP gray JPEG)' if delta else ''))
  print(f'Results: {FLAGS.output}')


if __name__ == '__main__':
  app.run(main)
