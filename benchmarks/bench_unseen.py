"""Trained colorizers on photos they have never seen, scored as the evaluator scores, with a picture grid.

    .venv/bin/python -m benchmarks.bench_unseen --photos=../shared/data/demo-photos \
        --models=unet/classification=/work/bq/unet_classification/export,...

The quality benchmark chooses the decoding on its own eval split and reports on it; this is the check that the
colour carries over: every photo of `--photos` (none of them in the models' training data) goes through the dataset
job at the models' size, each SavedModel's `predict_ab` colorizes its L, and the evaluator's scoring
(`components/colorization_evaluator/scoring.py`) compares it with the truth and with the no-colour and
constant-sepia references. Writes the JSON results and a PNG grid (gray | each model | original).

`--models=name=dirA+dirB` scores a prediction ensemble: the mean of the listed SavedModels' ab (each as it serves
it, its own decoding included).

Every row carries the hue recall's 90% bootstrap interval over the photos (overall and per sector), so a sector that
rests on a few photos shows how far it could move. `--dataset=<version dir> --split=eval` scores an already built
split instead (e.g. the quality benchmark's eval split in its `--work_dir`/ds/<version>), with the same intervals.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from typing import Any, Sequence

from absl import app
from absl import flags

import benchmarks
from benchmarks import grid

FLAGS = flags.FLAGS
flags.DEFINE_string('photos', '../shared/data/demo-photos', 'Photos none of the models was trained on (folder).')
flags.DEFINE_list('models', [], 'name=SavedModel directory pairs; name=dirA+dirB scores the mean of the models\' '
                  'ab (a prediction ensemble).')
flags.DEFINE_integer('size', 128, 'Image size (the models\').')
flags.DEFINE_list('exclude', [], 'Folders of photos some model did see (e.g. sample_photos, which make demo '
                  'fine-tunes on): photos of --photos with the same bytes are left out.')
flags.DEFINE_string('dataset', '', 'A built dataset version to score instead of building --photos.')
flags.DEFINE_string('split', 'eval', 'With --dataset: the split to score.')
flags.DEFINE_integer('grid_photos', 8, 'Photos in the picture grid.')
flags.DEFINE_integer('grid_purple', 3, 'Of those, the photos with the most truly coloured pixels of hue 240-360 deg '
                     '(purple, magenta: the sectors colorizers miss most); the rest are spread over the set.')
flags.DEFINE_string('output', 'benchmarks/results/unseen.json', 'Where the JSON results go.')
flags.DEFINE_string('grid', 'benchmarks/results/unseen_grid.png', 'Where the picture grid goes.')


def _mean_predictor(predictors: list) -> Any:
  """L batch -> the mean of the predictors' ab (one predictor: itself)."""
  if len(predictors) == 1:
    return predictors[0]
  return lambda l: sum(predict(l) for predict in predictors) / len(predictors)


def unseen_manifest(photos: str, exclude: Sequence[str], path: str) -> str:
  """A manifest (`manifest:<path>`) of the photos under `photos` whose bytes match no file under `exclude`."""
  from dataset import corpus  # pylint: disable=g-import-not-at-top
  def digests(root):
    for folder, _, names in sorted(os.walk(root)):
      for name in sorted(n for n in names if n.lower().endswith(corpus.IMAGE_EXTENSIONS)):
        with open(os.path.join(folder, name), 'rb') as f:
          yield os.path.join(folder, name), hashlib.sha256(f.read()).hexdigest()
  seen = {digest for root in exclude for _, digest in digests(root)}
  with open(path, 'w', encoding='utf-8') as f:
    f.writelines(os.path.abspath(file) + '\n' for file, digest in digests(photos) if digest not in seen)
  return f'manifest:{path}'


def _grid_choice(records: list, coloured: list[int], metrics) -> list[int]:
  """Indices of the grid's photos: the `--grid_purple` most purple-heavy ones, then others spread evenly."""
  from contracts import schema  # pylint: disable=g-import-not-at-top
  def purple_share(i):
    hue, chroma = metrics.hue_and_chroma(records[i][schema.LAB][..., 1:])
    sector = metrics.hue_sector(hue)
    return float(((chroma >= metrics.HUE_TRUE_CHROMA) & (sector >= 4)).mean())
  purple = sorted(coloured, key=purple_share, reverse=True)[:FLAGS.grid_purple]
  rest = [i for i in coloured if i not in purple]
  count = max(0, FLAGS.grid_photos - len(purple))
  spread = rest[::max(1, len(rest) // max(1, count))][:count]
  return sorted(purple + spread)


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
  work = tempfile.mkdtemp(prefix='bench_unseen_')
  results: dict[str, Any] = {'photos': FLAGS.dataset or FLAGS.photos, 'excluded': FLAGS.exclude,
                             'size': FLAGS.size, 'rows': []}
  try:
    if FLAGS.dataset:
      files = data_lib.dataset_info(FLAGS.dataset).files[FLAGS.split]
      results['split'] = FLAGS.split
    else:
      photos = unseen_manifest(FLAGS.photos, FLAGS.exclude, f'{work}/unseen.txt') if FLAGS.exclude else FLAGS.photos
      config = configs.load_config(overrides=[
          f'data.input_uri={photos}', f'data.output_dir={work}/ds', f'data.image_size={FLAGS.size}',
          'data.augmentation.copies=0', 'data.split_ratios={train: 0.5, eval: 0.5, test: 0.0}',
          'data.shards={train: 1, eval: 1, test: 1}'])
      info = data_lib.dataset_info(build_dataset.run_build(config).version_dir)
      files = info.files['train'] + info.files['eval']  # every photo: none was trained on
    records = [schema.decode_example_numpy(r.numpy())
               for r in tf.data.TFRecordDataset(files, compression_type='GZIP')]
    results['images'] = len(records)
    coloured = [i for i, r in enumerate(records) if metrics.is_coloured(r[schema.LAB])]
    shown = [records[i] for i in _grid_choice(records, coloured, metrics)]
    columns = [('gray', [np.zeros_like(r[schema.LAB][..., 1:]) for r in shown])]
    for name, report in scoring.score_references(records, interval=True).items():
      results['rows'].append({'model': f'reference: {name}', **report})
    for pair in FLAGS.models:
      name, _, model_dir = pair.partition('=')
      predictor = _mean_predictor([scoring.saved_model_predictor(d) for d in model_dir.split('+')])
      report, _ = scoring.score(predictor, records, interval=True)
      results['rows'].append({'model': name, 'model_dir': model_dir, **report})
      columns.append((name, list(predictor(np.stack([r[schema.LAB][..., :1] for r in shown]).astype(np.float32)))))
    grid.draw_grid(shown, columns, FLAGS.grid)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  benchmarks.write_results(FLAGS.output, results)
  print(f'\n{len(records)} photos from {results["photos"]}')
  print(f'{"model":28s} {"ΔPSNR":>6s} {"CF":>5s} {"desat":>5s} {"hue":>5s} {"sectors (0-60 ... 300-360)":>32s}')
  for row in results['rows']:
    sectors = ' '.join(f'{s:.2f}' for s in row['hue_recall_sectors'])
    print(f'{row["model"]:28s} {row["delta_psnr"]:6.2f} {row["colourfulness_ratio"]:5.2f} '
          f'{row["desaturation_rate"]:5.2f} {row["hue_recall"]:5.3f} {sectors:>32s}')
    print(f'{"  90% interval":28s} {"":18s} {benchmarks.interval_text(row)}')
  print(f'grid: {FLAGS.grid}')


if __name__ == '__main__':
  app.run(main)
