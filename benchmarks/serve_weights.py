"""A weights file as a recipe serves it: the SavedModel the trainer exports from it with no training step.

    .venv/bin/python -m benchmarks.serve_weights --weights=trainer/pretrained/colorizer_unet_128.npz \
        --dataset=<a dataset version with an eval split> --output=outputs/shipped_served

The trainer's finish stage still runs: the decoding (chroma gain, flip averaging) is chosen on the dataset's eval
split, exactly as after a real run, so the benchmarks score a file as a user gets it, not its raw network output.
"""

from typing import Sequence

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string('weights', 'trainer/pretrained/colorizer_unet_128.npz', 'The colorizer weights file.')
flags.DEFINE_string('config', 'configs/shipped_colorizer.yaml', 'The recipe whose model and decoding rules apply.')
flags.DEFINE_string('dataset', '', 'A dataset version (or a folder whose LATEST names one) with an eval split.')
flags.DEFINE_string('output', '', 'Where the SavedModel goes (`<output>/export`).')


def main(argv: Sequence[str]) -> None:
  del argv
  import configs  # pylint: disable=g-import-not-at-top  # TensorFlow loads after flag parsing
  from trainer import train as train_lib  # pylint: disable=g-import-not-at-top
  config = configs.load_config(FLAGS.config, overrides=[f'training.warm_start_from={FLAGS.weights}'])
  result = train_lib.train(config, FLAGS.dataset, FLAGS.output, max_steps=0)
  print(f'=== Summary ===\n{FLAGS.weights} as {FLAGS.config} serves it: {result.export_dir}')


if __name__ == '__main__':
  flags.mark_flags_as_required(['dataset', 'output'])
  app.run(main)
