"""Load on the colorize web server (`colorize-web`): throughput, latency, memory, and what happens past its limits.

    .venv/bin/python -m benchmarks.bench_web_load                                   # trains a tiny model first
    .venv/bin/python -m benchmarks.bench_web_load --model=outputs/serving_model     # a pushed model

Starts the server itself, as a separate process (`python -m serving.web`), on 127.0.0.1 only, with its default
limits unless told otherwise, and uploads a ~1-megapixel grayscale JPEG made from a bundled sample photo:

* 1, 4 and 16 concurrent clients, each sending its share of a bounded number of uploads back to back (one
  connection per upload): answers per second, p50/p99 latency of the 200s, how many 503s;
* a burst past the limit: `--burst` uploads at the same instant; how many 200 and 503 (with Retry-After), how fast
  the 503s came back;
* the server process's peak resident memory (VmHWM) after each phase.

Bounded: at most `--requests` uploads per phase and `--time_limit_s` per phase (clients stop sending after it).
Results go to benchmarks/results/web_load.json.
"""

from __future__ import annotations

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
flags.DEFINE_string('photos', 'sample_photos', 'Folder of sample photos (one becomes the ~1 MP upload).')
flags.DEFINE_list('clients', ['1', '4', '16'], 'Concurrent clients per phase.')
flags.DEFINE_integer('requests', 48, 'Uploads per phase (split between its clients).')
flags.DEFINE_integer('burst', 48, 'Simultaneous uploads of the past-the-limit phase.')
flags.DEFINE_float('time_limit_s', 180, 'Per phase: clients send no new upload after this.')
flags.DEFINE_integer('max_concurrent_inference', None, "Server flag (default: the server's).")
flags.DEFINE_integer('max_queued_uploads', None, "Server flag (default: the server's).")
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
      'model.variant=beta', 'model.encoder_filters=[8, 16, 32]', 'training.batch_size_per_replica=2'])
  version = build_dataset.run_build(config).version_dir
  result = train_lib.train(config, version, os.path.join(workdir, 'train'), max_steps=2)
  pushed = os.path.join(workdir, 'pushed', '1700000000')
  shutil.copytree(result.export_dir, pushed)
  return os.path.dirname(pushed)


def _one_megapixel_jpeg() -> bytes:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  path = sorted(glob.glob(os.path.join(FLAGS.photos, '*', '*.jpg')))[7]
  image = Image.open(path).convert('L')
  scale = (1_000_000 / (image.width * image.height)) ** 0.5
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


def _upload(port: int, data: bytes) -> tuple[int, float, str | None]:
  """(status, seconds, Retry-After); status 0 when the connection failed (reset, refused, timeout)."""
  start = time.perf_counter()
  connection = http.client.HTTPConnection(HOST, port, timeout=300)
  try:
    connection.request('POST', '/api/colorize', body=data,
                       headers={'Content-Type': 'application/octet-stream', 'X-Filename': 'bench.jpg'})
    response = connection.getresponse()
    response.read()
    return response.status, time.perf_counter() - start, response.headers.get('Retry-After')
  except OSError:
    return 0, time.perf_counter() - start, None
  finally:
    connection.close()


def _summary(answers, wall_s: float) -> dict:
  ok = [s for status, s, _ in answers if status == 200]
  busy = [(s, retry) for status, s, retry in answers if status == 503]
  summary = {
      'uploads': len(answers), 'ok_200': len(ok), 'busy_503': len(busy),
      'busy_503_with_retry_after': sum(1 for _, retry in busy if retry),
      'other_status': sorted({status for status, _, _ in answers} - {200, 503}),
      'failed_connections': sum(1 for status, _, _ in answers if status == 0),
      'wall_s': round(wall_s, 3), 'colorized_per_s': round(len(ok) / wall_s, 3),
  }
  if ok:
    summary['latency_200_s'] = {f'p{q}': round(float(np.percentile(ok, q)), 3) for q in (50, 99)}
  if busy:
    times = [s for s, _ in busy]
    summary['latency_503_s'] = {'p50': round(float(np.percentile(times, 50)), 4), 'max': round(max(times), 4)}
  return summary


def _phase(port: int, data: bytes, clients: int, requests: int) -> dict:
  per_client = max(1, requests // clients)
  deadline = time.monotonic() + FLAGS.time_limit_s

  def client(_):
    answers = []
    for _ in range(per_client):
      if time.monotonic() > deadline:
        break
      answers.append(_upload(port, data))
    return answers

  start = time.perf_counter()
  with concurrent.futures.ThreadPoolExecutor(clients) as pool:
    answers = [a for answers in pool.map(client, range(clients)) for a in answers]
  return {'clients': clients, **_summary(answers, time.perf_counter() - start)}


def _burst(port: int, data: bytes, count: int) -> dict:
  barrier = threading.Barrier(count)

  def one(_):
    barrier.wait()
    return _upload(port, data)

  start = time.perf_counter()
  with concurrent.futures.ThreadPoolExecutor(count) as pool:
    answers = list(pool.map(one, range(count)))
  return {'simultaneous': count, **_summary(answers, time.perf_counter() - start)}


def main(argv: Sequence[str]) -> None:
  del argv
  workdir = tempfile.mkdtemp(prefix='bench_web_')
  try:
    model = FLAGS.model or _tiny_model(workdir)
    data = _one_megapixel_jpeg()
    port = _free_port()
    server_flags = [f'--model={model}', f'--host={HOST}', f'--port={port}', f'--samples_dir={FLAGS.photos}']
    for name in ('max_concurrent_inference', 'max_queued_uploads'):
      if FLAGS[name].value is not None:
        server_flags.append(f'--{name}={FLAGS[name].value}')
    server = subprocess.Popen([sys.executable, '-m', 'serving.web', *server_flags], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
      ready = time.monotonic() + 300
      while True:
        try:
          urllib.request.urlopen(f'http://{HOST}:{port}/', timeout=5).read()
          break
        except OSError:
          if server.poll() is not None or time.monotonic() > ready:
            raise RuntimeError('the server did not start:\n' + server.stdout.read()) from None
          time.sleep(0.5)
      _upload(port, data)  # the first call traces the graph
      idle_mib = _peak_rss_mib(server.pid)
      phases = []
      for clients in (int(c) for c in FLAGS.clients):
        phases.append({**_phase(port, data, clients, FLAGS.requests), 'server_peak_rss_mib':
                       round(_peak_rss_mib(server.pid), 1)})
        print(json.dumps(phases[-1]), flush=True)
      burst = {**_burst(port, data, FLAGS.burst), 'server_peak_rss_mib': round(_peak_rss_mib(server.pid), 1)}
      print(json.dumps(burst), flush=True)
    finally:
      server.terminate()
      server.wait(30)
    from serving import web  # pylint: disable=g-import-not-at-top
    from PIL import Image  # pylint: disable=g-import-not-at-top
    size = Image.open(io.BytesIO(data)).size
    results = {
        'model': 'tiny (tests/conftest.py settings)' if not FLAGS.model else FLAGS.model,
        'cpus': os.cpu_count(),
        'upload': {'width': size[0], 'height': size[1], 'bytes': len(data), 'format': 'JPEG, grayscale'},
        'server_limits': {**web.DEFAULTS, **{n: FLAGS[n].value for n in ('max_concurrent_inference',
                                                                          'max_queued_uploads')
                                             if FLAGS[n].value is not None}},
        'server_rss_after_warmup_mib': round(idle_mib, 1),
        'phases': phases,
        'past_the_limit': burst,
        'server_peak_rss_mib': max(p['server_peak_rss_mib'] for p in phases + [burst]),
    }
    benchmarks.write_results(FLAGS.output, results)
    print(f'Results: {FLAGS.output}')
  finally:
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
  app.run(main)
