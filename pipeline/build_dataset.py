"""The dataset build's command line: raw colour photos -> augmented, sharded Lab TFRecords in a new version folder.

    python -m pipeline.build_dataset --config=configs/local.yaml --set data.input_uri=/photos
    colorize-build-dataset --config=configs/gcp.yaml -- --runner=DataflowRunner ...   # extra Beam args after --

The job itself is `dataset.build`; this layer wires the trainer's frozen embedder into it when the records store
its output (`data.precompute_embeddings`), since the dataset job does not import the trainer.
"""

from __future__ import annotations

import json
import logging
from typing import Sequence

from absl import app

import configs
from components.lab_example_gen import embedding as embedding_lib
from configs import flags as config_flags
from contracts import schema
from dataset import build


def run_build(config: configs.PipelineConfig, extra_beam_args: Sequence[str] = (),
              version_dir: str | None = None) -> build.BuildResult:
  """`dataset.build.run_build` with the trainer's embedder wired in (`components.lab_example_gen.embedding`)."""
  return build.run_build(config, extra_beam_args, version_dir, embedding=embedding_lib.embedding_for(config))


def summary(result: build.BuildResult) -> str:
  m = result.manifest
  photos = sum(s['photos'] for s in m['splits'].values())
  lines = [f'Dataset {m["version"]} written to {result.version_dir} in {result.seconds:.1f} s '
           f'({m["source"]["files_read"]} files read, {m["source"]["files_read"] / max(result.seconds, 1e-9):.1f} '
           f'files/s):']
  for split, s in m['splits'].items():
    lines.append(f'  {split:>6}: {s["photos"]:6d} photos -> {s["examples"]:6d} examples in {len(s["shards"])} shards')
  lines.append(f'  dead letters: {m["dead_letters"]["total"]} '
               f'{json.dumps(m["dead_letters"]["by_reason"])} -> {result.version_dir}/{schema.DEAD_LETTERS_FILE}')
  lines.append(f'  {photos} photos usable; {m["image_size"]}x{m["image_size"]} Lab ({m["resize_mode"]}); '
               f'manifest {result.version_dir}/{schema.MANIFEST_FILE}')
  for folder, why in result.removed_versions:
    lines.append(f'  removed abandoned partial version {folder} ({why})')
  return '\n'.join(lines)


def main(argv: Sequence[str]) -> None:
  logging.getLogger().setLevel(logging.WARNING)
  logging.getLogger(__name__).setLevel(logging.INFO)
  config = config_flags.config_from_flags()
  result = run_build(config, extra_beam_args=argv[1:])
  print('Beam counters: ' + json.dumps(result.counters))
  print(summary(result))


def console_main() -> None:
  app.run(main)


if __name__ == '__main__':
  console_main()
