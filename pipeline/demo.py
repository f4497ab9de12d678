"""The main job on the bundled sample photos (`make demo`): runs every stage that exists and summarizes it.

Today that is the dataset build; the TFX pipeline (train -> evaluate -> push) takes its place when it lands.
"""

from __future__ import annotations

import json
import logging
from typing import Sequence

from absl import app

from configs import flags as config_flags
from pipeline import build_dataset


def main(argv: Sequence[str]) -> None:
  logging.getLogger().setLevel(logging.WARNING)
  config = config_flags.config_from_flags()
  print(f'Building the Lab dataset from {config.data.input_uri} ...', flush=True)
  result = build_dataset.run_build(config, extra_beam_args=argv[1:])
  print('Beam counters: ' + json.dumps(result.counters))
  print()
  print('=== Summary ===')
  print(build_dataset.summary(result))


if __name__ == '__main__':
  app.run(main)
