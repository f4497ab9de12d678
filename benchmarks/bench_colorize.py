"""Latency and memory of colorizing photos with an exported model (what the `colorize` CLI does per photo).

    .venv/bin/python -m benchmarks.bench_colorize --model=outputs/serving_model --photos=sample_photos \
        [--baseline_model=<the same weights exported by another version of the serving graph>]

Reports latency percentiles at ~1 megapixel (each photo resized to 1,000,000 pixels, as a gray JPEG), the time of
each stage of the serving graph on those photos (validation, decode, L, the network at its resolution, upsampling
ab with the colour conversion, PNG encoding), images/s over a folder at native size, and the peak resident memory
of colorizing a 24-megapixel photo 5 times in one fresh process (flat memory = later calls do not add to the peak).
With `--baseline_model`, both models colorize every photo in turn in the same process, so the comparison shares
the machine's state.
"""

from __future__ import annotations

import glob
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
flags.DEFINE_string('model', 'outputs/serving_model', 'SavedModel or pushed-model folder.')
flags.DEFINE_string('photos', 'sample_photos', 'Folder of photos.')
flags.DEFINE_integer('count', 30, 'Photos timed.')
flags.DEFINE_string('output', 'benchmarks/results/colorize.json', 'Where the JSON results go.')
flags.DEFINE_string('baseline_model', '', 'A second model timed on the same photos in the same run, in turn.')
flags.DEFINE_integer('model_size', 128, "The model's resolution (the config's data.image_size), for the stages.")

_MEMORY_PROBE = """
import io, json, resource, sys
import numpy as np
from PIL import Image
from serving import colorizer as colorizer_lib
c = colorizer_lib.Colorizer(sys.argv[1])
rng = np.random.default_rng(0)
gray = Image.fromarray((rng.random((4000, 6000)) * 255).astype(np.uint8))  # 24 MP
buffer = io.BytesIO(); gray.save(buffer, format='JPEG', quality=90); data = buffer.getvalue()
peaks = []
c.colorize(b'' + open(sys.argv[2], 'rb').read())  # warm up the graph on a small photo
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
for _ in range(5):
  png = c.colorize(data)
  peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps({'baseline_mib': base, 'peak_mib_after_each_call': peaks, 'output_size': Image.open(io.BytesIO(png)).size}))
"""


def _median_ms(fn, inputs, repeats: int = 3) -> float:
  """Median over photos of the best of `repeats` calls of fn(input), in milliseconds (results fully computed)."""
  times = []
  for args in inputs:
    fn(*args)
    best = float('inf')
    for _ in range(repeats):
      start = time.perf_counter()
      out = fn(*args)
      if hasattr(out, 'numpy'):
        out.numpy()
      best = min(best, time.perf_counter() - start)
    times.append(best)
  return 1000.0 * float(np.median(times))


def stage_times(model, one_mp: list[bytes], size: int) -> dict[str, float]:
  """Milliseconds per stage of `serving_default` (trainer/export.py's functions, the model's `predict_ab`)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (after absl parsed the flags)
  from serving import colorizer as colorizer_lib  # pylint: disable=g-import-not-at-top
  from trainer import export  # pylint: disable=g-import-not-at-top
  predict = model.signatures['predict_ab']
  decode = tf.function(export.decode_checked, reduce_retracing=True)
  luminance = tf.function(export.luminance, reduce_retracing=True)
  resize = tf.function(lambda l: tf.image.resize(l[None], (size, size), method='area'), reduce_retracing=True)
  recombine = tf.function(export.recombine, reduce_retracing=True)
  encode = tf.function(export.encode_png, reduce_retracing=True)
  photos = [tf.constant(d) for d in one_mp]
  images = [decode(d) for d in photos]
  ls = [luminance(i) for i in images]
  smalls = [resize(l) for l in ls]
  abs_ = [predict(l=x)['ab'][0] for x in smalls]
  rgbs = [recombine(l, ab) for l, ab in zip(ls, abs_)]
  return {
      'validate (PIL, serving.colorizer.prepare)': _median_ms(colorizer_lib.prepare, [(d,) for d in one_mp]),
      'decode (TF)': _median_ms(decode, [(d,) for d in photos]),
      'L at full size': _median_ms(luminance, [(i,) for i in images]),
      'area resize to the model size': _median_ms(resize, [(l,) for l in ls]),
      'network (predict_ab at the model size)': _median_ms(lambda x: predict(l=x)['ab'], [(x,) for x in smalls]),
      'upsample ab + Lab to sRGB at full size': _median_ms(recombine, list(zip(ls, abs_))),
      'PNG encode': _median_ms(encode, [(r,) for r in rgbs]),
  }


def _memory(model_path: str, small_photo: str) -> dict:
  probe = subprocess.run([sys.executable, '-c', _MEMORY_PROBE, model_path, small_photo], capture_output=True,
                         text=True, check=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  return json.loads(probe.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str]) -> None:
  del argv
  from serving import colorizer as colorizer_lib  # pylint: disable=g-import-not-at-top
  paths = sorted(glob.glob(os.path.join(FLAGS.photos, '**', '*.jpg'), recursive=True))[:FLAGS.count]
  models = {'model': colorizer_lib.Colorizer(FLAGS.model)}
  if FLAGS.baseline_model:
    models['baseline'] = colorizer_lib.Colorizer(FLAGS.baseline_model)
  for colorizer in models.values():
    colorizer.colorize(open(paths[0], 'rb').read())  # trace the graph once
  one_mp = [benchmarks.one_megapixel_gray_jpeg(p) for p in paths]
  latencies = {name: [] for name in models}
  png_bytes = {name: 0 for name in models}
  for i, data in enumerate(one_mp):
    for name in (list(models) if i % 2 == 0 else list(models)[::-1]):  # alternate who goes first
      start = time.perf_counter()
      png = models[name].colorize(data)
      latencies[name].append(time.perf_counter() - start)
      png_bytes[name] += len(png)
  results = {'photos': len(paths), 'cpus': os.cpu_count()}
  for name, colorizer in models.items():
    native = [open(p, 'rb').read() for p in paths]
    start = time.perf_counter()
    for data in native:
      colorizer.colorize(data)
    native_rate = len(native) / (time.perf_counter() - start)
    results[name] = {
        'path': benchmarks.shown_path(colorizer.model_dir),
        'one_megapixel_latency_s': {f'p{q}': float(np.percentile(latencies[name], q)) for q in (50, 90, 99)},
        'one_megapixel_images_per_s': len(latencies[name]) / sum(latencies[name]),
        'one_megapixel_png_kib': png_bytes[name] / len(one_mp) / 1024,
        'native_size_images_per_s': native_rate,
        'memory_24mp': _memory(colorizer.model_dir, paths[0]),
    }
  results['model']['stages_ms_1mp'] = stage_times(models['model'].model, one_mp[:10], FLAGS.model_size)
  benchmarks.write_results(FLAGS.output, results)
  for name in models:
    r = results[name]
    lat, memory = r['one_megapixel_latency_s'], r['memory_24mp']
    print(f'{name}: 1 MP p50 {lat["p50"]:.3f} s, p90 {lat["p90"]:.3f} s, p99 {lat["p99"]:.3f} s '
          f'({r["one_megapixel_images_per_s"]:.2f} images/s, PNG {r["one_megapixel_png_kib"]:.0f} KiB); native size '
          f'{r["native_size_images_per_s"]:.1f} images/s; 24 MP peak RSS '
          f'{[round(m) for m in memory["peak_mib_after_each_call"]]} MiB (baseline {memory["baseline_mib"]:.0f})')
  print('stages (ms, median at 1 MP): ' + ', '.join(f'{k} {v:.1f}' for k, v in
                                                   results['model']['stages_ms_1mp'].items()))
  print(f'Results: {FLAGS.output}')


if __name__ == '__main__':
  app.run(main)
