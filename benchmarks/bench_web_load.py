"""Load on the colorize web server (`colorize-web`): simultaneous uploads against its wait queue, latency, memory.

    .venv/bin/python -m benchmarks.bench_web_load                                   # trains a tiny model first
    .venv/bin/python -m benchmarks.bench_web_load --model=outputs/serving_model     # a pushed model

Starts the server itself, as a separate process (`python -m serving.web`), on 127.0.0.1 only, with its default
limits unless told otherwise, and for each upload size (`--upload_megapixels`: grayscale JPEGs made from a bundled
sample photo) and each level of `--concurrent` (24, 64, 128) sends that many uploads at the same instant, one
connection each, and waits for every answer. Per level:

* how many were answered (any HTTP status) and how many connections failed (reset, refused, timed out: none
  should), the count of each status, the 503s by reason (`queue_full`: past `max_queued_uploads` waiting, at once;
  `queue_timeout`: waited `max_queue_wait_s`) and whether each carried Retry-After;
* p50/p99 latency of the 200s and of all answers, p50/max of the 503s; the level's wall time;
* whether the level is within the queue's count limit (`concurrent <= max_concurrent_inference +
  max_queued_uploads`) and how many `queue_full` refusals it got (none expected there);
* the server process's peak resident memory (VmHWM) after it.

The machine's load average before the run is recorded too: other work on the same cores slows colorization and
so brings uploads to the wait limit sooner. Bounded: `--concurrent` uploads per level, each with a `--client_timeout_s`
socket timeout. Results go to benchmarks/results/web_load.json.
"""

from __future__ import annotations

import collections
import concurrent.futures
import glob
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Sequence
import urllib.request

from absl import app
from absl import flags
import numpy as np

import benchmarks

FLAGS = flags.FLAGS
flags.DEFINE_string('model', None, 'SavedModel or pushed-model folder; default: train a tiny one (as tests do).')
flags.DEFINE_string('photos', 'sample_photos', 'Folder of sample photos (one becomes the uploads).')
flags.DEFINE_list('concurrent', ['24', '64', '128'], 'Simultaneous uploads, one level each.')
flags.DEFINE_list('upload_megapixels', ['0.25', '1.0'], 'Upload sizes (megapixels); every level runs at each.')
flags.DEFINE_float('client_timeout_s', 300, 'Socket timeout of each upload (a longer silence counts as failed).')
flags.DEFINE_integer('max_concurrent_inference', None, "Server flag (default: the server's).")
flags.DEFINE_integer('max_queued_uploads', None, "Server flag (default: the server's).")
flags.DEFINE_float('max_queue_wait_s', None, "Server flag (default: the server's).")
flags.DEFINE_string('output', 'benchmarks/results/web_load.json', 'Where the JSON results go.')

HOST = '127.0.0.1'  # never anything else: this benchmark only talks to the server it starts
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tiny_model(workdir: str) -> str:
  """A small model trained for 2 steps on 6 sample photos, pushed as `<base>/<version>/` (tests/conftest.py)."""
  import configs  # pylint: disable=g-import-not-at-top
  from pipeline import build_dataset  # pylint: disable=g-import-not-at-top
  from trainer import train as train_lib  # pylint: disable=g-import-not-at-top
  paths = sorted(glob.glob(os.path.join(FLAGS.photos, '*', '*.jpg')))
  photos = os.path.join(workdir, 'photos')
  os.makedirs(photos)
  for path in paths[:: max(1, len(paths) // 6)][:6]:
    shutil.copy(path, os.path.join(photos, f'{os.path.basename(os.path.dirname(path))}_{os.path.basename(path)}'))
  config = configs.load_config(overrides=[
      f'data.input_uri={photos}', f'data.output_dir={workdir}/ds', 'data.image_size=32',
      'data.split_ratios={train: 1.0}', 'data.shards={train: 1}', 'data.augmentation.copies=0',
      'model.network.variant=beta', 'training.warm_start_from=', 'model.network.encoder_filters=[8, 16, 32]',
      'training.batch_size_per_replica=2'])
  version = build_dataset.run_build(config).version_dir
  result = train_lib.train(config, version, os.path.join(workdir, 'train'), max_steps=2)
  pushed = os.path.join(workdir, 'pushed', '1700000000')
  shutil.copytree(result.export_dir, pushed)
  return os.path.dirname(pushed)


SERVER_FLAGS = ('max_concurrent_inference', 'max_queued_uploads', 'max_queue_wait_s')


def _grayscale_jpeg(megapixels: float) -> bytes:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  path = sorted(glob.glob(os.path.join(FLAGS.photos, '*', '*.jpg')))[7]
  image = Image.open(path).convert('L')
  scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
  image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
  buffer = io.BytesIO()
  image.save(buffer, format='JPEG', quality=92)
  return buffer.getvalue()


def _free_port() -> int:
  with socket.socket() as sock:
    sock.bind((HOST, 0))
    return sock.getsockname()[1]


def _peak_rss_mib(pid: int) -> float:
  with open(f'/proc/{pid}/status') as f:
    for line in f:
      if line.startswith('VmHWM:'):
        return int(line.split()[1]) / 1024
  return float('nan')


def _upload(port: int, data: bytes) -> tuple[int, float, str | None, str | None]:
  """(status, seconds, Retry-After, reason); status 0 when the connection failed (reset, refused, timeout)."""
  start = time.perf_counter()
  connection = http.client.HTTPConnection(HOST, port, timeout=FLAGS.client_timeout_s)
  try:
    connection.request('POST', '/api/colorize', body=data,
                       headers={'Content-Type': 'application/octet-stream', 'X-Filename': 'bench.jpg'})
    response = connection.getresponse()
    body = response.read()
    reason = None
    if response.status != 200:
      try:
        reason = json.loads(body)['reason']
      except (ValueError, KeyError):
        reason = 'not_json'
    return response.status, time.perf_counter() - start, response.headers.get('Retry-After'), reason
  except OSError:
    return 0, time.perf_counter() - start, None, None
  finally:
    connection.close()


def _percentiles(values, qs=(50, 99)) -> dict:
  return {f'p{q}': round(float(np.percentile(values, q)), 3) for q in qs} if values else {}


def _level(port: int, data: bytes, count: int, limits: dict) -> dict:
  """`count` uploads released at the same instant (a barrier), one connection each; every answer awaited."""
  barrier = threading.Barrier(count)

  def one(_):
    barrier.wait()
    return _upload(port, data)

  start = time.perf_counter()
  with concurrent.futures.ThreadPoolExecutor(count) as pool:
    answers = list(pool.map(one, range(count)))
  wall_s = time.perf_counter() - start
  statuses = collections.Counter(status for status, _, _, _ in answers if status)
  ok = [s for status, s, _, _ in answers if status == 200]
  busy = [(s, retry, reason) for status, s, retry, reason in answers if status == 503]
  reasons = collections.Counter(reason for _, _, reason in busy)
  within_queue = count <= limits['max_concurrent_inference'] + limits['max_queued_uploads']
  summary = {
      'concurrent': count, 'answered': sum(statuses.values()),
      'failed_connections': sum(1 for status, _, _, _ in answers if status == 0),
      'status_counts': {str(k): v for k, v in sorted(statuses.items())},
      'busy_503_by_reason': dict(sorted(reasons.items())),
      'busy_503_with_retry_after': sum(1 for _, retry, _ in busy if retry),
      'retry_after_s': sorted({int(retry) for _, retry, _ in busy if retry}),
      'within_queue_count_limit': within_queue,
      'queue_full_within_count_limit': reasons['queue_full'] if within_queue else None,
      'wall_s': round(wall_s, 3), 'colorized_per_s': round(len(ok) / wall_s, 3),
      'latency_200_s': _percentiles(ok),
      'latency_all_answers_s': _percentiles([s for status, s, _, _ in answers if status]),
  }
  if busy:
    times = [s for s, _, _ in busy]
    summary['latency_503_s'] = {'p50': round(float(np.percentile(times, 50)), 3), 'max': round(max(times), 3)}
  return summary


def main(argv: Sequence[str]) -> None:
  del argv
  from serving import web  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  load_before = [round(x, 2) for x in os.getloadavg()]
  limits = {**web.DEFAULTS, **{n: FLAGS[n].value for n in SERVER_FLAGS if FLAGS[n].value is not None}}
  workdir = tempfile.mkdtemp(prefix='bench_web_')
  try:
    model = FLAGS.model or _tiny_model(workdir)
    uploads = {mp: _grayscale_jpeg(float(mp)) for mp in FLAGS.upload_megapixels}
    port = _free_port()
    server_flags = [f'--model={model}', f'--host={HOST}', f'--port={port}', f'--samples_dir={FLAGS.photos}']
    server_flags += [f'--{n}={FLAGS[n].value}' for n in SERVER_FLAGS if FLAGS[n].value is not None]
    log_path = os.path.join(workdir, 'server.log')  # a file, not a pipe: an unread pipe would block the server
    log = open(log_path, 'w')
    server = subprocess.Popen([sys.executable, '-m', 'serving.web', *server_flags], cwd=REPO,
                              stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
      ready = time.monotonic() + 300
      while True:
        try:
          urllib.request.urlopen(f'http://{HOST}:{port}/', timeout=5).read()
          break
        except OSError:
          if server.poll() is not None or time.monotonic() > ready:
            raise RuntimeError('the server did not start:\n' + open(log_path).read()) from None
          time.sleep(0.5)
      for data in uploads.values():
        _upload(port, data)  # the first call of each size traces the graph
      idle_mib = _peak_rss_mib(server.pid)
      runs = []
      for mp, data in uploads.items():
        size = Image.open(io.BytesIO(data)).size
        single_status, single_s, _, _ = _upload(port, data)  # alone: the colorization time without a queue
        levels = []
        for count in (int(c) for c in FLAGS.concurrent):
          levels.append({**_level(port, data, count, limits),
                         'server_peak_rss_mib': round(_peak_rss_mib(server.pid), 1)})
          print(json.dumps({'megapixels': mp, **levels[-1]}), flush=True)
        runs.append({'upload': {'width': size[0], 'height': size[1], 'bytes': len(data),
                                'format': 'JPEG, grayscale'},
                     'single_upload': {'status': single_status, 'seconds': round(single_s, 3)},
                     'levels': levels})
    finally:
      server.terminate()
      server.wait(30)
      log.close()
    results = {
        'model': 'tiny (tests/conftest.py settings)' if not FLAGS.model else FLAGS.model,
        'cpus': os.cpu_count(),
        'load_average_before': load_before,
        'server_limits': limits,
        'server_rss_after_warmup_mib': round(idle_mib, 1),
        'runs': runs,
        'server_peak_rss_mib': max(level['server_peak_rss_mib'] for run in runs for level in run['levels']),
    }
    benchmarks.write_results(FLAGS.output, results)
    print(f'Results: {FLAGS.output}')
  finally:
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
  app.run(main)
