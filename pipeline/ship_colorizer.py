"""Makes the shipped colorizer file from a finished run of the recipe (`make shipped-colorizer`).

    python -m pipeline.ship_colorizer --config=configs/shipped_colorizer.yaml \
        --output=trainer/pretrained/colorizer_unet_128.npz

Takes the newest model pushed to the recipe's `push.destination` (or --model: any exported or pushed model folder,
or a weights file), and writes its weights file with a header that says how it was made: the recipe (the config
file's name), the corpus's sources with their licences and counts (`CORPUS.json` of `data.input_uri`, written by
`dataset.corpus`), the steps and the dataset version. No machine paths: the file is meant to be committed.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

from absl import app
from absl import flags
import tensorflow as tf

from components.idempotent_pusher import executor as pusher_executor
from configs import flags as config_flags
from trainer.loop import warm_start

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string('model', '', 'A pushed/exported model folder or weights file (default: the newest version '
                      'under the config\'s push.destination).')
  flags.DEFINE_string('output', 'trainer/pretrained/colorizer_unet_128.npz', 'The weights file to write.')


def corpus_sources(input_uri: str) -> list[dict]:
  """The corpus's sources (name, licence, photos) from its CORPUS.json; [] for a plain photo folder."""
  path = os.path.join(input_uri, 'CORPUS.json')
  if not tf.io.gfile.exists(path):
    return []
  with tf.io.gfile.GFile(path) as f:
    corpus = json.load(f)
  keys = ('name', 'content', 'licence', 'repo', 'commit', 'photos')
  return [{key: source[key] for key in keys if key in source} for source in corpus['sources']]


def ship(config, config_path: str, model: str, output: str) -> dict:
  """Writes `output` from `model` (or the newest push); returns its header."""
  source = model or pusher_executor.newest_version(config.push.destination)
  if not source:
    raise SystemExit(f'no pushed model under {config.push.destination}: run the recipe first '
                     f'(python -m pipeline.run_local --config={config_path})')
  return warm_start.relabel(source, output, {
      'recipe': os.path.basename(config_path),
      'data_sources': corpus_sources(config.data.input_uri) or None,
      'trained_on': _dataset_name(config.data.input_uri,
                                  warm_start.read_weights(warm_start.resolve(source))[1].get('trained_on', '')),
  })


def _dataset_name(input_uri: str, trained_on: str) -> str:
  """`corpus, dataset version 1`: the photos' folder and the version's name, no path of the training machine."""
  version = os.path.basename(trained_on.rstrip('/)').split('(')[-1].rstrip('/'))
  return f'{os.path.basename(input_uri.rstrip("/"))}, dataset version {version}'


def main(argv: Sequence[str]) -> None:
  del argv
  config = config_flags.config_from_flags()
  header = ship(config, config_flags.CONFIG_PATH.value, FLAGS.model, FLAGS.output)
  sources = ', '.join(f'{s["name"]} {s["photos"]}' for s in header.get('data_sources', []))
  print(f'=== Summary ===\n{FLAGS.output}: {header.get("variant")}/{header.get("loss")}, {header.get("steps")} steps '
        f'at {header.get("image_size")} px, recipe {header["recipe"]}, data: {sources or header["trained_on"]}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
