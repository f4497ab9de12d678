"""Colorization quality after the same CPU wall-time budget per model variant, on a held-out split, with pictures.

    .venv/bin/python -m benchmarks.bench_quality --photos=../shared/data/caltech-3k --size=128 --minutes=30

Builds one Lab dataset (train/eval split by content hash), trains each variant/loss pair for `--minutes` of wall
time on this machine, and scores it on the eval split with the evaluator's own scoring
(`components/colorization_evaluator/scoring.py`; metrics as docs/quality.md defines them,
`trainer/objective/metrics.py`): ΔPSNR against gray, the colourfulness ratio and ΔCF, the desaturation rate, rebalanced ab
accuracy, and the hue-balanced recall with its six sectors; the two references (no colour, constant sepia) are
rows of the same table. A spec may name a precision (`unet/classification@mixed_bfloat16`) and config overrides
of its own (`unet/l1_chroma:model.loss.regression_rebalancing=0.5`). Writes the JSON results and a PNG grid of 8 eval
photos (gray | each variant | original).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from typing import Any, Sequence

from absl import app
from absl import flags

import benchmarks
from benchmarks import balanced
from benchmarks import grid
from configs import flags as config_flags  # --set key=value: applied to every variant after the benchmark's own

FLAGS = flags.FLAGS
flags.DEFINE_string('photos', '../shared/data/caltech-3k', 'Photos (folder, or any data.input_uri).')
flags.DEFINE_integer('max_per_folder', 0, 'Category balance: at most this many photos of each sub-folder of '
                     '--photos (the same reproducible draw every time: benchmarks/balanced.py); 0 = every photo.')
flags.DEFINE_integer('size', 128, 'Image size.')
flags.DEFINE_integer('copies', 1, 'Augmented copies per training photo written by the dataset build '
                     '(data.augmentation.copies).')
flags.DEFINE_float('minutes', 30.0, 'Training wall-time budget per variant; 0: no training step, score the '
                   'variant as it starts (with training.warm_start_from: a shipped or pushed colorizer as it is).')
flags.DEFINE_list('variants', ['unet/classification', 'unet/l1_chroma', 'fusion/mse', 'fusion/classification'],
                  'variant/loss[@precision][:key=value[;key=value...]] specs: the overrides after ":" apply to '
                  'that variant only (e.g. unet/l1_chroma:model.loss.regression_rebalancing=0.5), after any --set.')
flags.DEFINE_integer('batch', 16, 'Batch size.')
flags.DEFINE_integer('grid_photos', 8, 'Eval photos in the picture grid.')
flags.DEFINE_string('output', 'benchmarks/results/quality.json', 'Where the JSON results go.')
flags.DEFINE_string('grid', 'benchmarks/results/quality_grid.png', 'Where the picture grid goes.')
flags.DEFINE_string('work_dir', '', 'Keep the dataset and every trained variant here (default: a temporary folder, '
                    'deleted). With --redecode, variants already trained there are not trained again.')
flags.DEFINE_bool('redecode', False, 'For variants already trained in --work_dir: restore the final checkpoint, '
                  'choose the decoding again on the eval split with the current code, export and score (no training).')


def main(argv: Sequence[str]) -> None:
  del argv
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from components.colorization_evaluator import scoring  # pylint: disable=g-import-not-at-top
  import configs  # pylint: disable=g-import-not-at-top
  from contracts import schema  # pylint: disable=g-import-not-at-top
  from pipeline import build_dataset  # pylint: disable=g-import-not-at-top
  from trainer.input import data as data_lib  # pylint: disable=g-import-not-at-top
  from trainer.objective import metrics  # pylint: disable=g-import-not-at-top
  from trainer import train as train_lib  # pylint: disable=g-import-not-at-top
  work = FLAGS.work_dir or tempfile.mkdtemp(prefix='bench_quality_')
  results: dict[str, Any] = {'photos': FLAGS.photos, 'size': FLAGS.size, 'minutes_per_variant': FLAGS.minutes,
                             'batch': FLAGS.batch, 'cpus': os.cpu_count(), 'variants': []}
  try:
    photos = FLAGS.photos
    if FLAGS.max_per_folder:
      photos = balanced.write_manifest(FLAGS.photos, FLAGS.max_per_folder, os.path.join(work, 'photos.txt'))
      results['max_per_folder'] = FLAGS.max_per_folder
    config = configs.load_config(overrides=[
        f'data.input_uri={photos}', f'data.output_dir={work}/ds', f'data.image_size={FLAGS.size}',
        f'data.augmentation.copies={FLAGS.copies}', 'data.split_ratios={train: 0.9, eval: 0.1, test: 0.0}',
        'data.shards={train: 4, eval: 1, test: 1}'])
    try:
      version = data_lib.dataset_info(f'{work}/ds').version_dir if FLAGS.work_dir else None
    except (OSError, ValueError):
      version = None
    version = version or build_dataset.run_build(config).version_dir
    info = data_lib.dataset_info(version)
    results['examples'] = info.examples
    results['copies'] = FLAGS.copies
    records = [schema.decode_example_numpy(r.numpy())
               for r in tf.data.TFRecordDataset(info.files['eval'], compression_type='GZIP')]
    coloured = [i for i, r in enumerate(records) if metrics.is_coloured(r[schema.LAB])]
    shown = [records[i] for i in coloured[::max(1, len(coloured) // FLAGS.grid_photos)][:FLAGS.grid_photos]]
    columns = [('gray', [np.zeros_like(r[schema.LAB][..., 1:]) for r in shown])]
    for name, report in scoring.score_references(records, interval=True).items():
      results['variants'].append({'variant': f'reference: {name}', 'loss': '', 'precision': '', **report})
    # The decoding is chosen as gcp.yaml would: for the targets' ΔPSNR >= 0, not the demo's 1 dB, over the full
    # (T, s) grid (ModelConfig's defaults), not the demo's coarse 4 x 4.
    full_grid = configs.DecodingConfig()
    for spec in FLAGS.variants:
      triple, _, own = spec.partition(':')
      own_overrides = [item for item in own.split(';') if item]
      pair, _, precision = triple.partition('@')
      variant, loss = pair.split('/')
      overrides = [f'model.network.variant={variant}', f'model.loss.kind={loss}', f'training.batch_size_per_replica={FLAGS.batch}',
                   'training.epochs=1000', 'training.checkpoint_every_steps=100000',
                   'model.decoding.max_psnr_cost=0.0',
                   f'model.decoding.temperature_candidates={list(full_grid.temperature_candidates)}',
                   f'model.decoding.prior_correction_candidates={list(full_grid.prior_correction_candidates)}',
                   ] + benchmarks.from_imagenet_overrides() + config_flags.OVERRIDES.value
      if precision:
        overrides.append(f'training.precision={precision}')
      overrides += own_overrides
      run_config = configs.load_config(overrides=overrides)
      out = os.path.join(work, re.sub(r'[^A-Za-z0-9_.+-]', '_', spec))
      trained = os.path.join(out, 'bench_entry.json')
      if FLAGS.redecode and os.path.exists(trained):
        with open(trained) as f:
          entry = json.load(f)
        # restores the final checkpoint, runs no step, chooses the decoding again (bins: T and s; regression: gain)
        export_dir = train_lib.train(run_config, version, out, max_steps=entry['steps']).export_dir
      else:
        start = time.perf_counter()
        if FLAGS.minutes > 0:
          result = train_lib.train(run_config, version, out, time_budget_seconds=FLAGS.minutes * 60)
        else:  # no step: the decoding is chosen on the eval split for the starting weights, which are exported
          result = train_lib.train(run_config, version, out, max_steps=0)
        export_dir = result.export_dir
        entry = {'variant': variant, 'loss': loss, 'precision': precision or run_config.training.precision,
                 'steps': result.steps, 'train_seconds': time.perf_counter() - start,
                 'examples_per_s': result.examples_per_second,
                 'final_val_loss': result.history['val_loss'][-1] if result.history['val_loss'] else None}
        if result.history.get('averaged_val_loss'):  # training.averaging.fraction: the exported weights'
          entry['averaged_val_loss'] = result.history['averaged_val_loss'][0]
        with open(trained, 'w') as f:
          json.dump(entry, f)
      entry['overrides'] = own_overrides
      if config_flags.OVERRIDES.value:
        entry['common_overrides'] = list(config_flags.OVERRIDES.value)  # --set, applied to every row
      predictor = scoring.saved_model_predictor(export_dir)
      report, _ = scoring.score(predictor, records, interval=True)
      entry.update(report)
      bins = os.path.join(out, 'color_bins.json')
      if os.path.exists(bins):
        with open(bins) as f:
          stored = json.load(f)
        entry['temperature'], entry['prior_correction'] = stored['temperature'], stored.get('prior_correction', 0.0)
      gain = os.path.join(out, 'decoding.json')
      if os.path.exists(gain):
        with open(gain) as f:
          entry['chroma_gain'] = json.load(f)['chroma_gain']
      results['variants'].append(entry)
      columns.append((spec, list(predictor(np.stack([r[schema.LAB][..., :1] for r in shown]).astype(np.float32)))))
      print('result:', json.dumps(entry), flush=True)
    grid.draw_grid(shown, columns, FLAGS.grid)
  finally:
    if not FLAGS.work_dir:
      shutil.rmtree(work, ignore_errors=True)
  benchmarks.write_results(FLAGS.output, results)
  print(f'\n{"variant/loss":34s} {"ΔPSNR":>6s} {"CF":>5s} {"ΔCF":>5s} {"desat":>5s} {"AuC_w":>5s} {"hue":>5s} '
        f'{"sectors (0-60 ... 300-360)":>32s} {"steps":>6s} {"ex/s":>5s} {"T/s|gain":>9s}')
  for v in results['variants']:
    sectors = ' '.join(f'{s:.2f}' for s in v['hue_recall_sectors'])
    decoding = f'{v["temperature"]:.2f}/{v.get("prior_correction", 0.0):.1f}' if 'temperature' in v else (
        f'x{v["chroma_gain"]:.2f}' if 'chroma_gain' in v else '')
    name = v['variant'] + '/' + v['loss'] + (('@' + v['precision']) if v['precision'] else '')
    name += (':' + ';'.join(v['overrides'])) if v.get('overrides') else ''
    print(f'{name:34s} '
          f'{v["delta_psnr"]:6.2f} {v["colourfulness_ratio"]:5.2f} {v["delta_colourfulness"]:5.1f} '
          f'{v["desaturation_rate"]:5.2f} {v["rebalanced_ab_accuracy"]:5.3f} {v["hue_recall"]:5.3f} {sectors:>32s} '
          f'{v.get("steps", ""):>6} {v.get("examples_per_s", 0):5.1f} {decoding:>9s}')
    print(f'{"  90% interval":34s} {"":34s} {benchmarks.interval_text(v)}')
  print(f'grid: {FLAGS.grid}')


if __name__ == '__main__':
  app.run(main)
