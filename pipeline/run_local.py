"""Runs the TFX pipeline locally: LocalDagRunner, a SQLite ML Metadata store, Beam's in-process runner.

    python -m pipeline.run_local --config=configs/local.yaml [--train_steps=N]
"""

from __future__ import annotations

import os
from typing import Sequence

from absl import app
from absl import flags
from tfx.orchestration import metadata
from tfx.orchestration.local import local_dag_runner

import configs
from configs import flags as config_flags
from contracts import beam_options
from pipeline import create_pipeline
from dataset import inputs

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so several commands share one process."""
  flags.DEFINE_integer('train_steps', 0, 'Cap on training steps (0 = the config epochs).')


def run(config: configs.PipelineConfig, train_steps: int = 0, enable_cache: bool = True) -> None:
  """Runs the whole DAG; returns when every component has finished (or raises on the first failure)."""
  os.makedirs(os.path.dirname(os.path.abspath(config.runner.metadata_path)), exist_ok=True)
  pipeline = create_pipeline.create_pipeline(
      config,
      input_fingerprint=inputs.fingerprint(config.data.input_uri),
      metadata_connection_config=metadata.sqlite_metadata_connection_config(config.runner.metadata_path),
      beam_pipeline_args=beam_options.beam_args(config.runner),
      train_steps=train_steps, enable_cache=enable_cache)
  local_dag_runner.LocalDagRunner().run(pipeline)


def main(argv: Sequence[str]) -> None:
  del argv
  run(config_flags.config_from_flags(), FLAGS.train_steps)


def console_main() -> None:
  define_flags()
  app.run(main)


if __name__ == '__main__':
  console_main()
