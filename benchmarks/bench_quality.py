"""Colorization quality after a fixed CPU training budget, per model variant, on a held-out split.

    .venv/bin/python -m benchmarks.bench_quality --photos=../shared/data/caltech-3k --size=128 --minutes=30

Builds one Lab dataset (train/eval split by content hash), trains each variant for `--minutes` of wall time on
this machine, and reports on the evaluation split (metrics of the README's "Metrics" section, `trainer/metrics.py`):
ΔPSNR against the gray baseline, the colourfulness ratio and ΔCF, and the desaturation failure rate.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from typing import Any, Sequence

from absl import app
from absl import flags

import benchmarks

FLAGS = flags.FLAGS
flags.DEFINE_string('photos', '../shared/data/caltech-3k', 'Photos (folder).')
flags.DEFINE_integer('size', 128, 'Image size.')
flags.DEFINE_float('minutes', 30.0, 'Training wall-time budget per variant.')
flags.DEFINE_list('variants', ['beta/mse', 'fusion/mse', 'fusion/classification'], 'variant/loss pairs.')
flags.DEFINE_integer('batch', 16, 'Batch size.')
flags.DEFINE_string('output', 'benchmarks/results/quality.json', 'Where the JSON results go.')


def evaluate_export(export_dir: str, eval_files: list[str]) -> dict[str, float]:
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from contracts import schema  # pylint: disable=g-import-not-at-top
  from trainer import metrics  # pylint: disable=g-import-not-at-top
  model = tf.saved_model.load(export_dir)
  predict = model.signatures['predict_ab']
  labs, preds = [], []
  batch = []
  records = [schema.decode_example_numpy(r.numpy())
             for r in tf.data.TFRecordDataset(eval_files, compression_type='GZIP')]
  for start in range(0, len(records), 32):
    chunk = [r[schema.LAB] for r in records[start:start + 32]]
    l = np.stack([lab[..., :1] for lab in chunk]).astype(np.float32)
    ab = predict(l=tf.constant(l))['ab'].numpy()
    labs.extend(chunk)
    preds.extend(list(ab))
  del batch
  return metrics.evaluate(labs, preds).as_dict()


def main(argv: Sequence[str]) -> None:
  del argv
  import configs  # pylint: disable=g-import-not-at-top
  from pipeline import build_dataset  # pylint: disable=g-import-not-at-top
  from trainer import data as data_lib  # pylint: disable=g-import-not-at-top
  from trainer import train as train_lib  # pylint: disable=g-import-not-at-top
  work = tempfile.mkdtemp(prefix='bench_quality_')
  results: dict[str, Any] = {'photos': FLAGS.photos, 'size': FLAGS.size, 'minutes_per_variant': FLAGS.minutes,
                             'cpus': os.cpu_count(), 'variants': []}
  try:
    config = configs.load_config(overrides=[
        f'data.input_uri={FLAGS.photos}', f'data.output_dir={work}/ds', f'data.image_size={FLAGS.size}',
        'data.augmentation.copies=1', 'data.split_ratios={train: 0.9, eval: 0.1, test: 0.0}',
        'data.shards={train: 4, eval: 1, test: 1}'])
    version = build_dataset.run_build(config).version_dir
    info = data_lib.dataset_info(version)
    results['examples'] = info.examples
    for pair in FLAGS.variants:
      variant, loss = pair.split('/')
      run_config = configs.load_config(overrides=[
          f'model.variant={variant}', f'model.loss={loss}', f'training.batch_size_per_replica={FLAGS.batch}',
          'training.epochs=1000', 'training.checkpoint_every_steps=100000'])
      out = os.path.join(work, pair.replace('/', '_'))
      start = time.perf_counter()
      try:
        result = train_lib.train(run_config, version, out, time_budget_seconds=FLAGS.minutes * 60)
      except NotImplementedError as e:
        results['variants'].append({'variant': variant, 'loss': loss, 'error': str(e)})
        print('skipped:', pair, e, flush=True)
        continue
      entry = {'variant': variant, 'loss': loss, 'steps': result.steps,
               'train_seconds': time.perf_counter() - start, 'examples_per_s': result.examples_per_second,
               'final_val_loss': result.history['val_loss'][-1] if result.history['val_loss'] else None}
      entry.update(evaluate_export(result.export_dir, info.files['eval']))
      results['variants'].append(entry)
      print('result:', json.dumps(entry), flush=True)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  benchmarks.write_results(FLAGS.output, results)
  print(f'\n{"variant/loss":24s} {"ΔPSNR":>7s} {"CF ratio":>8s} {"ΔCF":>6s} {"desat.":>6s} steps')
  for v in results['variants']:
    if 'error' in v:
      print(f'{v["variant"] + "/" + v["loss"]:24s} {v["error"]}')
    else:
      print(f'{v["variant"] + "/" + v["loss"]:24s} {v["delta_psnr"]:7.2f} {v["colourfulness_ratio"]:8.2f} '
            f'{v["delta_colourfulness"]:6.1f} {v["desaturation_rate"]:6.2f} {v["steps"]}')


if __name__ == '__main__':
  app.run(main)
