"""Where one hue sector's recall goes: which photos hold its pixels and what colour the model gives them.

    .venv/bin/python -m benchmarks.bench_sector --dataset=<work_dir>/ds --split=eval --sector=3 \
        --model=<work_dir>/<variant>/export

The hue-balanced recall (`trainer.objective.metrics.HueRecall`) averages six sectors, so a sector that rests on a few
photos decides a target. This prints how the sector's truly coloured pixels spread over the photos, how many the
model leaves gray (chroma < 10) and a histogram of the hues it gives the rest, and draws the photos holding the
most of them (gray | model | original), so one can see whether the misses are colours that cannot be known from
L (a colour cast) or a model bias.
"""

from __future__ import annotations

from typing import Any, Sequence

from absl import app
from absl import flags

import benchmarks
from benchmarks import grid

FLAGS = flags.FLAGS
flags.DEFINE_string('dataset', None, 'A dataset version folder, or the folder whose LATEST names one.')
flags.DEFINE_string('split', 'eval', 'Split of the dataset to read.')
flags.DEFINE_string('model', None, 'SavedModel directory (an export or pushed model).')
flags.DEFINE_integer('sector', 3, 'Hue sector, 0..5 (0-60, 60-120, ... degrees of atan2(b, a)); 3 = cyan.')
flags.DEFINE_integer('top', 10, 'Photos in the picture: those holding the most of the sector\'s pixels.')
flags.DEFINE_string('output', 'benchmarks/results/sector.json', 'Where the JSON results go.')
flags.DEFINE_string('grid', 'benchmarks/results/sector_grid.png', 'Where the picture goes.')
flags.mark_flags_as_required(['dataset', 'model'])

_HUE_BINS = 12  # 30-degree bins for the histogram of predicted hues


def main(argv: Sequence[str]) -> None:
  del argv
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from components.colorization_evaluator import scoring  # pylint: disable=g-import-not-at-top
  from contracts import schema  # pylint: disable=g-import-not-at-top
  from trainer.input import data as data_lib  # pylint: disable=g-import-not-at-top
  from trainer.objective import metrics  # pylint: disable=g-import-not-at-top
  if not 0 <= FLAGS.sector < metrics.HUE_SECTORS:
    raise app.UsageError(f'--sector: must be 0..{metrics.HUE_SECTORS - 1}, got {FLAGS.sector}')
  width = 360.0 / metrics.HUE_SECTORS
  low, high = FLAGS.sector * width, (FLAGS.sector + 1) * width
  info = data_lib.dataset_info(FLAGS.dataset)
  records = [schema.decode_example_numpy(r.numpy())
             for r in tf.data.TFRecordDataset(info.files[FLAGS.split], compression_type='GZIP')]
  predictor = scoring.saved_model_predictor(FLAGS.model)
  recall, per_photo, gray, hue_histogram = metrics.HueRecall(), [], 0, np.zeros(_HUE_BINS, np.int64)
  predictions = []
  for start in range(0, len(records), 32):
    batch = np.stack([r[schema.LAB][..., :1] for r in records[start:start + 32]]).astype(np.float32)
    predictions += list(predictor(batch))
  for record, ab_pred in zip(records, predictions):
    recall.add(record[schema.LAB][..., 1:], ab_pred)
    hue_true, chroma_true = metrics.hue_and_chroma(record[schema.LAB][..., 1:])
    hue_pred, chroma_pred = metrics.hue_and_chroma(ab_pred)
    inside = (chroma_true >= metrics.HUE_TRUE_CHROMA) & (hue_true >= low) & (hue_true < high)
    per_photo.append(int(inside.sum()))
    coloured = inside & (chroma_pred >= metrics.HUE_PREDICTED_CHROMA)
    gray += int((inside & ~coloured).sum())
    hue_histogram += np.histogram(hue_pred[coloured], bins=_HUE_BINS, range=(0.0, 360.0))[0]
  total = sum(per_photo)
  order = np.argsort(per_photo)[::-1]
  top = [int(i) for i in order[:FLAGS.top] if per_photo[i]]
  results: dict[str, Any] = {
      'dataset': info.version_dir, 'split': FLAGS.split, 'model': FLAGS.model, 'sector_degrees': [low, high],
      'photos': len(records), 'photos_with_pixels': int(sum(1 for n in per_photo if n)), 'pixels': total,
      'share_in_top': (sum(per_photo[i] for i in top) / total) if total else 0.0,
      'recall': recall.sectors()[FLAGS.sector], 'left_gray': (gray / total) if total else float('nan'),
      'predicted_hue_histogram': {f'{k * 30}-{k * 30 + 30}': int(n) for k, n in enumerate(hue_histogram)},
      'top_photos': [{'index': i, 'pixels': per_photo[i], 'source': records[i][schema.SOURCE_URI]}
                     for i in top]}
  shown = [records[i] for i in top]
  grid.draw_grid(shown, [('gray', [np.zeros_like(r[schema.LAB][..., 1:]) for r in shown]),
                         ('model', [predictions[i] for i in top])], FLAGS.grid)
  benchmarks.write_results(FLAGS.output, results)
  print(f'sector {low:.0f}-{high:.0f} degrees on {FLAGS.split}: {total} truly coloured pixels in '
        f'{results["photos_with_pixels"]} of {len(records)} photos; the top {len(top)} hold '
        f'{results["share_in_top"]:.0%}')
  print(f'recall {results["recall"]:.3f}; left gray (chroma < {metrics.HUE_PREDICTED_CHROMA:.0f}) '
        f'{results["left_gray"]:.1%}')
  print('hues the model gives the rest (30-degree bins):')
  for name, count in results['predicted_hue_histogram'].items():
    print(f'  {name:>8s}: {count}')
  print(f'grid: {FLAGS.grid}')


if __name__ == '__main__':
  app.run(main)
