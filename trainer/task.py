"""Command-line training task; runs unchanged as a Vertex AI custom job (TF_CONFIG/CLUSTER_SPEC set by Vertex).

    python -m trainer.task --config=configs/local.yaml --dataset=outputs/datasets --output=outputs/model
    colorize-train --set model.network.variant=beta --set training.epochs=2
"""

from __future__ import annotations

import logging
from typing import Sequence

from absl import app
from absl import flags

from configs import flags as config_flags
from trainer import train

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so several commands share one process."""
  flags.DEFINE_string('dataset', 'outputs/datasets', 'Dataset version folder, or a folder whose LATEST names one.')
  flags.DEFINE_string('output', 'outputs/model', 'Where checkpoints, logs and the SavedModel go.')
  flags.DEFINE_integer('max_steps', 0, 'Stop after this many steps (0 = epochs x steps per epoch).')


def main(argv: Sequence[str]) -> None:
  del argv
  logging.getLogger().setLevel(logging.WARNING)
  config = config_flags.config_from_flags()
  result = train.train(config, FLAGS.dataset, FLAGS.output, max_steps=FLAGS.max_steps or None)
  print(f'Trained {result.steps} steps ({result.examples_per_second:.1f} examples/s, resumed from step '
        f'{result.resumed_from_step}); SavedModel: {result.export_dir}')


def console_main() -> None:
  define_flags()
  app.run(main)


if __name__ == '__main__':
  console_main()
