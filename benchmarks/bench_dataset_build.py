"""Throughput of the dataset build against two references measured in the same run on the same files.

    .venv/bin/python -m benchmarks.bench_dataset_build --photos=<folder of photos> --size=256

Reports images/s of:
  (a) the decode floor: decode + resize only (no Lab, no write), a process pool using every core;
  (b) the per-image loop of the original colorizers: PIL + scikit-image `rgb2lab`, float32 records, one process;
  (c) the whole Beam job (read, hash, decode, resize, Lab, encode, compress, shuffle, write, manifest), per local
      running mode, per augmentation copy count and per worker-thread count;
and bytes per record, and a per-stage profile of one worker's work. Results go to benchmarks/results/.
"""

from __future__ import annotations

import concurrent.futures
import glob
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from typing import Any, Sequence

from absl import app
from absl import flags
import numpy as np

import benchmarks

FLAGS = flags.FLAGS
flags.DEFINE_string('photos', '../shared/data/caltech-3k', 'Folder of photos (searched recursively).')
flags.DEFINE_integer('size', 256, 'Output image side.')
flags.DEFINE_integer('loop_images', 400, 'Photos for the (slow) per-image loop reference; its rate is per image.')
flags.DEFINE_list('modes', ['in_memory', 'multi_processing'], 'Local running modes to measure.')
flags.DEFINE_list('copies', ['0', '1', '2'], 'Augmentation copies to measure (in_memory).')
flags.DEFINE_list('pools', ['process', 'thread'], 'Per-photo pools to measure (in_memory, copies 0).')
flags.DEFINE_list('pool_sizes', ['1', '2'], 'Per-photo pool sizes to measure (in_memory, process pool, copies 0).')
flags.DEFINE_integer('repeats', 7, 'Alternating decode-floor / default-job runs; the summary takes the medians '
                     '(the 2-second floor alone varies by +-15% between runs here).')
flags.DEFINE_string('output', 'benchmarks/results/dataset_build.json', 'Where the JSON results go.')

_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.webp', '.bmp', '.gif')


def list_photos(folder: str) -> list[str]:
  return sorted(p for p in glob.glob(os.path.join(folder, '**', '*'), recursive=True)
                if p.lower().endswith(_EXTENSIONS))


# ---- (a) decode floor -------------------------------------------------------------------------------------------


def _decode_and_resize(path: str, size: int) -> int:
  """The job's own decode and resize calls, ending with the pixels as a uint8 array: one copy out of PIL, as the
  job makes one (the RGBX bytes its colour table reads). No other conversion: no array -> PIL -> array trip."""
  from contracts import decode, geometry  # pylint: disable=g-import-not-at-top
  with open(path, 'rb') as f:
    image = decode.decode_pil(f.read(), min_side=1, max_pixels=10 ** 9, draft_side=size)
  resized, _ = geometry.fit(image, size, 'crop')
  return resized.shape[0]


def decode_floor(paths: Sequence[str], size: int) -> dict[str, Any]:
  workers = os.cpu_count() or 1
  with concurrent.futures.ProcessPoolExecutor(workers) as pool:
    list(pool.map(_decode_and_resize, paths[:workers * 4], [size] * workers * 4))  # warm the workers
    start = time.perf_counter()
    list(pool.map(_decode_and_resize, paths, [size] * len(paths), chunksize=32))
    seconds = time.perf_counter() - start
  return {'images': len(paths), 'seconds': seconds, 'images_per_s': len(paths) / seconds, 'processes': workers}


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
  """The run with the median images/s (a failed job run counts as 0)."""
  return sorted(runs, key=lambda r: r.get('images_per_s', 0.0))[len(runs) // 2]


# ---- (b) per-image loop -----------------------------------------------------------------------------------------


def per_image_loop(paths: Sequence[str], size: int, out_dir: str) -> dict[str, Any]:
  """The original colorizers' data preparation: PIL resize, scikit-image Lab, float32 features, plain TFRecord."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from skimage import color  # pylint: disable=g-import-not-at-top
  path_out = os.path.join(out_dir, 'loop.tfrecord')
  start = time.perf_counter()
  with tf.io.TFRecordWriter(path_out) as writer:
    for path in paths:
      image = Image.open(path).convert('RGB')
      width, height = image.size
      side = min(width, height)
      image = image.crop(((width - side) // 2, (height - side) // 2, (width + side) // 2, (height + side) // 2))
      lab = color.rgb2lab(np.asarray(image.resize((size, size), Image.BILINEAR))).astype(np.float32)
      feature = {
          'L': tf.train.Feature(float_list=tf.train.FloatList(value=lab[..., 0].ravel())),
          'ab': tf.train.Feature(float_list=tf.train.FloatList(value=lab[..., 1:].ravel())),
      }
      writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
  seconds = time.perf_counter() - start
  return {'images': len(paths), 'seconds': seconds, 'images_per_s': len(paths) / seconds,
          'bytes_per_record': os.path.getsize(path_out) / len(paths)}


# ---- (c) the Beam job -------------------------------------------------------------------------------------------


def beam_job(photos: str, size: int, out_dir: str, *, mode: str = 'in_memory', copies: int = 0,
             pool: str = 'process', pool_size: int = 0, workers: int = 1) -> dict[str, Any]:
  import configs  # pylint: disable=g-import-not-at-top
  from pipeline import build_dataset  # pylint: disable=g-import-not-at-top
  config = configs.load_config(overrides=[
      f'data.input_uri={photos}', f'data.output_dir={out_dir}', f'data.image_size={size}',
      f'data.augmentation.copies={copies}', f'data.photo_workers={pool_size}', f'data.photo_pool={pool}',
      'data.shards={train: 4, eval: 1, test: 1}', f'runner.direct_running_mode={mode}',
      f'runner.direct_num_workers={workers}'])
  start = time.perf_counter()
  try:
    result = build_dataset.run_build(config)
  except Exception as e:  # pylint: disable=broad-except
    return {'mode': mode, 'copies': copies, 'pool': pool, 'pool_size': pool_size, 'workers': workers,
            'error': f'{type(e).__name__}: {str(e)[:300]}', 'seconds': time.perf_counter() - start}
  seconds = time.perf_counter() - start
  manifest = result.manifest
  examples = sum(s['examples'] for s in manifest['splits'].values())
  shard_bytes = sum(os.path.getsize(p) for p in glob.glob(os.path.join(result.version_dir, '*', '*.gz')))
  return {'mode': mode, 'copies': copies, 'pool': pool, 'pool_size': pool_size or os.cpu_count(), 'workers': workers,
          'images': manifest['source']['files_read'], 'examples': examples, 'seconds': seconds,
          'images_per_s': manifest['source']['files_read'] / seconds, 'examples_per_s': examples / seconds,
          'bytes_per_record': shard_bytes / max(examples, 1)}


# ---- profile of one worker --------------------------------------------------------------------------------------


def stage_profile(paths: Sequence[str], size: int) -> dict[str, float]:
  """Milliseconds per photo of each step of `photo.process_photo`, one thread."""
  import hashlib  # pylint: disable=g-import-not-at-top
  from contracts import colorspace, decode, geometry, lab_table, schema, tfrecord_files  # pylint: disable=g-import-not-at-top
  schema.encode_example(np.zeros((3, 8, 8), np.uint8), None, source_uri='', content_hash='',
                        augmentation_id=0, augmentation_seed=0)  # import protobuf outside the timings
  lab_table.table()
  totals: dict[str, float] = {}

  def timed(name, fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    totals[name] = totals.get(name, 0.0) + time.perf_counter() - start
    return value

  for path in paths:
    data = timed('read file', lambda p: open(p, 'rb').read(), path)
    content_hash = timed('sha256', lambda d: hashlib.sha256(d).hexdigest(), data)
    rgb = timed('decode (PIL, draft)', decode.decode_pil, data, min_side=1, max_pixels=10 ** 9, draft_side=size)
    resized, _ = timed('resize + crop', geometry.fit_image, rgb, size, 'crop')
    planes = timed('sRGB -> Lab (NumPy formulas)', colorspace.rgb8_to_lab_planes, np.asarray(resized))
    timed('quantize', schema.quantize_lab_planes, planes)
    quantized = timed('sRGB -> quantized Lab (table, used by the job)', lab_table.rgb8_to_quantized_lab_planes,
                      resized)
    record = timed('difference code + tf.Example', schema.encode_example, quantized, None, source_uri=path,
                   content_hash=content_hash, augmentation_id=0, augmentation_seed=0)
    timed('gzip member (ISA-L level 1)', tfrecord_files.compress_record, record, 1)
  return {name: 1000.0 * seconds / len(paths) for name, seconds in totals.items()}


def main(argv: Sequence[str]) -> None:
  del argv
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  paths = list_photos(FLAGS.photos)
  if not paths:
    raise SystemExit(f'no photos under {FLAGS.photos}')
  work = tempfile.mkdtemp(prefix='bench_dataset_')
  results: dict[str, Any] = {'photos': FLAGS.photos, 'images': len(paths), 'size': FLAGS.size,
                             'cpus': os.cpu_count(), 'python': platform.python_version()}
  try:
    print(f'{len(paths)} photos from {FLAGS.photos} at {FLAGS.size} px, {os.cpu_count()} cores', flush=True)
    floors, defaults = [], []
    for _ in range(FLAGS.repeats):  # the headline pair, alternated so slow phases of the machine hit both
      floors.append(decode_floor(paths, FLAGS.size))
      print('decode floor:', json.dumps(floors[-1]), flush=True)
      defaults.append(beam_job(FLAGS.photos, FLAGS.size, os.path.join(work, 'ds')))
      print('job (default):', json.dumps(defaults[-1]), flush=True)
    results['decode_floor_runs'], results['default_job_runs'] = floors, defaults
    results['decode_floor'] = _median_run(floors)
    results['per_image_loop'] = per_image_loop(paths[:FLAGS.loop_images], FLAGS.size, work)
    print('per-image loop:', json.dumps(results['per_image_loop']), flush=True)
    jobs = [_median_run(defaults)]
    for mode in FLAGS.modes:
      if mode != 'in_memory':
        jobs.append(beam_job(FLAGS.photos, FLAGS.size, os.path.join(work, 'ds'), mode=mode,
                             workers=os.cpu_count() or 1))
        print('job:', json.dumps(jobs[-1]), flush=True)
    for copies in FLAGS.copies:
      if int(copies):
        jobs.append(beam_job(FLAGS.photos, FLAGS.size, os.path.join(work, 'ds'), copies=int(copies)))
        print('job:', json.dumps(jobs[-1]), flush=True)
    for pool in FLAGS.pools:
      if pool != 'process':
        jobs.append(beam_job(FLAGS.photos, FLAGS.size, os.path.join(work, 'ds'), pool=pool))
        print('job:', json.dumps(jobs[-1]), flush=True)
    for pool_size in FLAGS.pool_sizes:
      if int(pool_size) != os.cpu_count():
        jobs.append(beam_job(FLAGS.photos, FLAGS.size, os.path.join(work, 'ds'), pool_size=int(pool_size)))
        print('job:', json.dumps(jobs[-1]), flush=True)
    results['jobs'] = jobs
    results['profile_ms_per_photo'] = stage_profile(paths[:300], FLAGS.size)
    print('profile (ms/photo, one thread):', json.dumps(results['profile_ms_per_photo'], indent=1), flush=True)
  finally:
    shutil.rmtree(work, ignore_errors=True)

  best = results['jobs'][0]  # the default configuration (in_memory, process pool), median of the repeats
  floor, loop = results['decode_floor']['images_per_s'], results['per_image_loop']
  per_repeat = [j.get('images_per_s', 0.0) / f['images_per_s'] for f, j in zip(floors, defaults)]
  results['summary'] = {
      'job_images_per_s': best['images_per_s'], 'best_mode': best['mode'],
      'fraction_of_decode_floor_per_repeat': per_repeat,
      'fraction_of_decode_floor': best['images_per_s'] / floor,
      'median_fraction_per_repeat': float(np.median(per_repeat)),
      'speedup_over_loop': best['images_per_s'] / loop['images_per_s'],
      'record_bytes_fraction_of_loop': best['bytes_per_record'] / loop['bytes_per_record'],
  }
  benchmarks.write_results(FLAGS.output, results)
  s = results['summary']
  print(f'\nSummary (medians of {FLAGS.repeats}): job {s["job_images_per_s"]:.0f} images/s ({s["best_mode"]}) = '
        f'{s["fraction_of_decode_floor"]:.2f}x the decode floor ({floor:.0f}/s; per repeat '
        f'{", ".join(f"{x:.2f}" for x in s["fraction_of_decode_floor_per_repeat"])}; their median '
        f'{s["median_fraction_per_repeat"]:.2f}x), '
        f'{s["speedup_over_loop"]:.1f}x the per-image loop ({loop["images_per_s"]:.1f}/s); '
        f'records {best["bytes_per_record"] / 1024:.0f} KiB = {s["record_bytes_fraction_of_loop"]:.3f}x the loop\'s '
        f'{loop["bytes_per_record"] / 1024:.0f} KiB. Results: {FLAGS.output}')


if __name__ == '__main__':
  app.run(main)
