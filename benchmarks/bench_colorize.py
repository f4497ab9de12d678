"""Latency and memory of colorizing photos with an exported model (what the `colorize` CLI does per photo).

    .venv/bin/python -m benchmarks.bench_colorize --model=outputs/serving_model --photos=sample_photos

Reports latency percentiles at ~1 megapixel (each photo upscaled to 1,000,000 pixels), images/s over a folder at
native size, and the peak resident memory of colorizing a 24-megapixel photo 5 times in one fresh process
(flat memory = later calls do not add to the peak).
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
flags.DEFINE_string('model', 'outputs/serving_model', 'SavedModel or pushed-model folder.')
flags.DEFINE_string('photos', 'sample_photos', 'Folder of photos.')
flags.DEFINE_integer('count', 30, 'Photos timed.')
flags.DEFINE_string('output', 'benchmarks/results/colorize.json', 'Where the JSON results go.')

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


def _at_one_megapixel(path: str) -> bytes:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  image = Image.open(path).convert('RGB')
  scale = (1_000_000 / (image.width * image.height)) ** 0.5
  image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
  buffer = io.BytesIO()
  image.convert('L').save(buffer, format='JPEG', quality=92)
  return buffer.getvalue()


def main(argv: Sequence[str]) -> None:
  del argv
  from serving import colorizer as colorizer_lib  # pylint: disable=g-import-not-at-top
  paths = sorted(glob.glob(os.path.join(FLAGS.photos, '**', '*.jpg'), recursive=True))[:FLAGS.count]
  colorizer = colorizer_lib.Colorizer(FLAGS.model)
  colorizer.colorize(open(paths[0], 'rb').read())  # trace the graph once
  one_mp = [_at_one_megapixel(p) for p in paths]
  latencies = []
  for data in one_mp:
    start = time.perf_counter()
    colorizer.colorize(data)
    latencies.append(time.perf_counter() - start)
  native = [open(p, 'rb').read() for p in paths]
  start = time.perf_counter()
  for data in native:
    colorizer.colorize(data)
  native_rate = len(native) / (time.perf_counter() - start)
  probe = subprocess.run([sys.executable, '-c', _MEMORY_PROBE, FLAGS.model, paths[0]], capture_output=True,
                         text=True, check=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  memory = json.loads(probe.stdout.strip().splitlines()[-1])
  results = {
      'model': colorizer.model_dir, 'photos': len(paths), 'cpus': os.cpu_count(),
      'one_megapixel_latency_s': {f'p{q}': float(np.percentile(latencies, q)) for q in (50, 90, 99)},
      'one_megapixel_images_per_s': len(latencies) / sum(latencies),
      'native_size_images_per_s': native_rate,
      'memory_24mp': memory,
  }
  benchmarks.write_results(FLAGS.output, results)
  lat = results['one_megapixel_latency_s']
  print(f'1 MP: p50 {lat["p50"]:.2f} s, p90 {lat["p90"]:.2f} s, p99 {lat["p99"]:.2f} s '
        f'({results["one_megapixel_images_per_s"]:.2f} images/s); native size {native_rate:.1f} images/s; '
        f'24 MP peak RSS {memory["peak_mib_after_each_call"]} MiB (baseline {memory["baseline_mib"]:.0f}). '
        f'Results: {FLAGS.output}')


if __name__ == '__main__':
  app.run(main)
