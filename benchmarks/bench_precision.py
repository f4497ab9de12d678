"""Training speed in float32 and mixed bfloat16, per model variant and training phase, on this machine.

    .venv/bin/python -m benchmarks.bench_precision --steps=8

Synthetic input (the model alone), batch 16 at 128 px, `--steps` timed steps after two tracing steps. The `unet`
is measured in both phases: encoder frozen (only the decoder learns) and the whole network. The `auto` precision
(`trainer/loop/schedule.py`) picks what wins here.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from typing import Sequence

from absl import app
from absl import flags

import benchmarks

FLAGS = flags.FLAGS
flags.DEFINE_string('photos', 'sample_photos', 'Photos for the (tiny) dataset whose manifest the trainer reads.')
flags.DEFINE_integer('size', 128, 'Image size.')
flags.DEFINE_integer('batch', 16, 'Batch size.')
flags.DEFINE_integer('steps', 8, 'Timed steps per configuration.')
flags.DEFINE_list('precisions', ['float32', 'mixed_bfloat16'], 'Keras mixed-precision policies.')
flags.DEFINE_list('configurations', ['unet/frozen', 'unet/full', 'fusion', 'beta'], 'variant[/phase].')
flags.DEFINE_string('output', 'benchmarks/results/precision.json', 'Where the JSON results go.')


def main(argv: Sequence[str]) -> None:
  del argv
  import configs  # pylint: disable=g-import-not-at-top
  from pipeline import build_dataset  # pylint: disable=g-import-not-at-top
  from trainer.loop import schedule  # pylint: disable=g-import-not-at-top
  from trainer import train as train_lib  # pylint: disable=g-import-not-at-top
  work = tempfile.mkdtemp(prefix='bench_precision_')
  rows = []
  try:
    base = [f'data.input_uri={FLAGS.photos}', f'data.output_dir={work}/ds', f'data.image_size={FLAGS.size}',
            'data.split_ratios={train: 1.0}', 'data.shards={train: 1}', 'data.photo_pool=thread']
    version = build_dataset.run_build(configs.load_config(overrides=base)).version_dir
    for configuration in FLAGS.configurations:
      variant, _, phase = configuration.partition('/')
      for precision in FLAGS.precisions:
        overrides = [*benchmarks.from_imagenet_overrides(), f'model.network.variant={variant}', 'model.loss.kind=classification',
                     'training.synthetic_input=true',
                     f'training.batch_size_per_replica={FLAGS.batch}', f'training.precision={precision}',
                     'training.checkpoint_every_steps=100000',
                     f'training.schedule.frozen_encoder_fraction={0.99 if phase == "frozen" else 0.0}']
        out = tempfile.mkdtemp(dir=work)
        result = train_lib.train(configs.load_config(overrides=overrides), version, out,
                                 max_steps=FLAGS.steps + 2, export=False)
        shutil.rmtree(out, ignore_errors=True)
        rows.append({'configuration': configuration, 'precision': precision,
                     'examples_per_s': result.examples_per_second})
        print('result:', json.dumps(rows[-1]), flush=True)
    auto = schedule.resolve_precision(configs.load_config().training)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  benchmarks.write_results(FLAGS.output, {'size': FLAGS.size, 'batch': FLAGS.batch, 'steps': FLAGS.steps,
                                          'auto_precision': auto, 'rows': rows})
  print(f'\n{"configuration":16s} ' + ' '.join(f'{p:>16s}' for p in FLAGS.precisions))
  for configuration in FLAGS.configurations:
    print(f'{configuration:16s} ' + ' '.join(
        f'{r["examples_per_s"]:16.1f}' for r in rows if r['configuration'] == configuration))
  print(f'auto precision on this machine: {auto}')


if __name__ == '__main__':
  app.run(main)
