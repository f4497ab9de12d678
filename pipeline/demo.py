"""The main job on the bundled sample photos (`make demo`): runs every stage that exists and summarizes it.

Today: the dataset build, the fusion trainer (exporting a SavedModel), and a few colorized test-split photos
written next to their gray input and original. The TFX pipeline (train -> evaluate -> push) takes its place when
it lands.
"""

from __future__ import annotations

import io
import json
import logging
import os
from typing import Sequence

from absl import app
from absl import flags
import numpy as np

from configs import flags as config_flags
from pipeline import build_dataset

FLAGS = flags.FLAGS
flags.DEFINE_string('output', 'outputs/demo', 'Where the model and the sample colorizations go.')
flags.DEFINE_integer('samples', 4, 'Test-split photos to colorize.')


def colorize_samples(export_dir: str, uris: list[str], out_dir: str) -> list[str]:
  """Writes gray | colorized | original strips for `uris` with the exported model; returns their paths."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  model = tf.saved_model.load(export_dir)
  os.makedirs(out_dir, exist_ok=True)
  written = []
  for uri in uris:
    with open(uri, 'rb') as f:
      data = f.read()
    original = Image.open(io.BytesIO(data)).convert('RGB')
    gray = original.convert('L').convert('RGB')
    png = model.signatures['serving_default'](images=tf.constant([data]))['png'].numpy()[0]
    colorized = Image.open(io.BytesIO(png)).convert('RGB')
    strip = Image.fromarray(np.concatenate([np.asarray(gray), np.asarray(colorized), np.asarray(original)], 1))
    path = os.path.join(out_dir, os.path.basename(os.path.dirname(uri)) + '_' + os.path.basename(uri) + '.png')
    strip.save(path)
    written.append(path)
  return written


def main(argv: Sequence[str]) -> None:
  logging.getLogger().setLevel(logging.WARNING)
  config = config_flags.config_from_flags()
  print(f'[1/3] Building the Lab dataset from {config.data.input_uri} ...', flush=True)
  build = build_dataset.run_build(config, extra_beam_args=argv[1:])
  print('Beam counters: ' + json.dumps(build.counters), flush=True)

  from trainer import train  # pylint: disable=g-import-not-at-top
  print(f'[2/3] Training the {config.model.variant} colorizer ({config.model.embedder}, {config.model.loss}) ...',
        flush=True)
  result = train.train(config, build.version_dir, os.path.join(FLAGS.output, 'model'))

  from pipeline import schema  # pylint: disable=g-import-not-at-top
  from trainer import data as data_lib  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  info = data_lib.dataset_info(build.version_dir)
  split = 'test' if info.examples.get('test') else 'train'
  uris = [schema.decode_example_numpy(r.numpy())[schema.SOURCE_URI]
          for r in tf.data.TFRecordDataset(info.files[split], compression_type='GZIP').take(FLAGS.samples)]
  print(f'[3/3] Colorizing {len(uris)} {split}-split photos with the exported model ...', flush=True)
  samples = colorize_samples(result.export_dir, uris, os.path.join(FLAGS.output, 'samples'))

  print()
  print('=== Summary ===')
  print(build_dataset.summary(build))
  history = result.history
  print(f'Model: {config.model.variant}/{config.model.loss}, {result.steps} steps '
        f'({result.examples_per_second:.1f} examples/s); loss {history["loss"][0]:.4f} -> {history["loss"][-1]:.4f}, '
        f'validation loss {history["val_loss"][-1]:.4f}')
  print(f'  SavedModel: {result.export_dir}')
  print(f'  loss curves: {os.path.join(FLAGS.output, "model", "loss_curves.png")}; '
        f'TensorBoard: {os.path.join(FLAGS.output, "model", "logs")}')
  print(f'  sample colorizations (gray | colorized | original): {os.path.dirname(samples[0]) if samples else "-"}')
  for path in samples:
    print(f'    {path}')


if __name__ == '__main__':
  app.run(main)
