"""The dataset build: raw colour photos -> augmented, sharded Lab TFRecords in a new versioned folder.

    python -m pipeline.build_dataset --config=configs/local.yaml --set data.input_uri=/photos
    colorize-build-dataset --config=configs/gcp.yaml -- --runner=DataflowRunner ...   # extra Beam args after --

Usable on its own (local runs, scheduled runs, full rebuilds on Dataflow/Flink/Spark) and, through `build_examples`,
inside the TFX pipeline's example gen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import logging
import time
from typing import Any, Sequence

from absl import app
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

import configs
from configs import flags as config_flags
from pipeline import beam_options
from pipeline import dataset_version
from pipeline import schema
from pipeline import sources
from pipeline import tfrecord_files
from pipeline import transforms


@dataclasses.dataclass
class BuildResult:
  """What a build produced: the version folder, its manifest, the Beam counters and the wall time."""
  version_dir: str
  manifest: dict[str, Any]
  counters: dict[str, int]
  seconds: float


SPILL_DIR = '_spill'  # under the version folder; removed before the manifest is written


class DataLossError(RuntimeError):
  """The writers received fewer records than the encoder produced: the build must not be marked complete."""


def _manifest(shards, dead_letters_by_reason, sources_summary, *, data: configs.DataConfig, version_dir: str,
              embedding: dict[str, Any] | None = None) -> dict[str, Any]:
  fingerprint, files_read = sources_summary['fingerprint'], sources_summary['files_read']
  splits = {}
  for split in data.split_ratios:
    written = sorted((s for s in shards if s['split'] == split), key=lambda s: s['path'])
    splits[split] = {'examples': sum(s['examples'] for s in written), 'photos': sum(s['photos'] for s in written),
                     'shards': [s['path'] for s in written]}
  return {
      'schema_version': schema.SCHEMA_VERSION,
      'version': version_dir.rstrip('/').rsplit('/', 1)[-1],
      'created': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
      'image_size': data.image_size,
      'resize_mode': data.resize_mode,
      'record_format': 'gzip TFRecord of tf.train.Example, features in pipeline/schema.py',
      'config': configs.to_dict(configs.PipelineConfig(data=data))['data'],
      'splits': splits,
      'dead_letters': {'total': sum(dead_letters_by_reason.values()), 'by_reason': dead_letters_by_reason,
                       'file': schema.DEAD_LETTERS_FILE},
      'source': {'input_uri': data.input_uri, 'files_read': files_read, 'fingerprint': fingerprint},
      'embedding': embedding,
  }


def _finish_version(grouped: dict[str, Any], *, data, version_dir, embedding=None) -> str:
  """Last step of a build: dead-letter file, spill cleanup, then the manifest that marks the version complete."""
  shards = transforms.write_empty_shards(version_dir, data.shards, grouped['shards'])
  sources_summary = transforms.summarize_sources(grouped['sources'])
  encoded = sources_summary['records_encoded']
  arrived = sum(s['examples'] + s['duplicate_records'] for s in shards)
  if arrived != encoded:
    raise DataLossError(f'{version_dir}: {encoded} records were encoded but {arrived} reached the shard writers; '
                        'refusing to write the manifest (seen with the FnApiRunner in multi_processing mode on large '
                        'records: use direct_running_mode=in_memory)')
  dead_letters_by_reason = transforms.write_dead_letters(
      grouped['dead_letters'], beam.io.filesystems.FileSystems.join(version_dir, schema.DEAD_LETTERS_FILE))
  manifest = _manifest(shards, dead_letters_by_reason, sources_summary, data=data, version_dir=version_dir,
                       embedding=embedding)
  tfrecord_files.delete_spill_dir(beam.io.filesystems.FileSystems.join(version_dir, SPILL_DIR))
  path = beam.io.filesystems.FileSystems.join(version_dir, schema.MANIFEST_FILE)
  dataset_version.write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + '\n')
  return path


def build_examples(root: beam.Pipeline, data: configs.DataConfig, version_dir: str,
                   model: configs.ModelConfig | None = None, *, distributed: bool = True) -> beam.PCollection:
  """Adds the whole build to `root`; returns a PCollection holding the manifest path once everything is written.

  With `data.precompute_embeddings`, `model` names the frozen embedder whose output each record stores (Deep
  Koalarization's approach: computed once here instead of twice per training batch). `distributed=False` (the
  workers run in the launching process) drops the shuffle that spreads the file list over workers.
  """
  embedding = None
  embed_model = None
  if data.precompute_embeddings:
    if model is None or model.variant != 'fusion':
      raise configs.ConfigError('data.precompute_embeddings: needs model.variant=fusion (an embedder to run)')
    from trainer import embedders  # pylint: disable=g-import-not-at-top
    embedding = {'name': model.embedder, 'size': embedders.embedding_size(model)}
    embed_model = model
  source = sources.parse_input_uri(data.input_uri)
  if source.kind == 'tfds':
    photos = root | 'ReadTfds' >> transforms.ReadTfds(source.tfds_name, source.tfds_split, data.tfds_data_dir)
    match_dead = root | 'NoMatchDeadLetters' >> beam.Create([])
  else:
    photos, match_dead = root | 'MatchFiles' >> transforms.MatchFiles(source.patterns, spread=distributed)
  spill_dir = beam.io.filesystems.FileSystems.join(version_dir, SPILL_DIR) if data.spill_records else None
  processed = photos | 'ProcessPhotos' >> beam.ParDo(
      transforms.ProcessPhotosFn(data, embed_model, spill_dir)).with_outputs(
          transforms.DEAD_LETTER_TAG, transforms.SOURCES_TAG, main='records')
  written = processed.records | 'WriteShards' >> transforms.WriteShards(
      version_dir, data.shards, data.drop_duplicates)
  dead = ((match_dead, written[transforms.DEAD_LETTER_TAG], processed[transforms.DEAD_LETTER_TAG])
          | 'AllDeadLetters' >> beam.Flatten())
  # Everything the manifest needs meets in one single-key CoGroupByKey (fewer stages at the end of the job than a
  # combine, a ToList and side inputs); the trigger makes it fire even when there is no input at all.
  manifest_inputs = {'shards': written.shards, 'dead_letters': dead, 'sources': processed[transforms.SOURCES_TAG],
                     'trigger': root | 'ManifestTrigger' >> beam.Create([None])}
  return ({name: pcoll | f'Key{name.title().replace("_", "")}' >> beam.Map(lambda value: (None, value))
           for name, pcoll in manifest_inputs.items()}
          | 'GatherForManifest' >> beam.CoGroupByKey()
          | 'WriteManifest' >> beam.MapTuple(
              lambda _, grouped: _finish_version(grouped, data=data, version_dir=version_dir, embedding=embedding)))


def _counters(result) -> dict[str, int]:
  counters = {}
  try:
    for counter in result.metrics().query()['counters']:
      if counter.key.metric.namespace == transforms.COUNTER_NAMESPACE:
        name = counter.key.metric.name
        counters[name] = counters.get(name, 0) + (counter.committed if counter.committed is not None
                                                  else counter.attempted)
  except (NotImplementedError, KeyError):
    pass
  return dict(sorted(counters.items()))


def run_build(config: configs.PipelineConfig, extra_beam_args: Sequence[str] = (),
              version_dir: str | None = None) -> BuildResult:
  """Runs the build with the configured Beam runner; marks the new version LATEST once it is complete.

  Args:
    config: The pipeline config; only `data` and `runner` are read.
    extra_beam_args: Beam options appended to the runner's (e.g. `--runner=DataflowRunner --temp_location=...`).
    version_dir: Where to write; default a new timestamped folder under `data.output_dir`.
  """
  data = config.data
  version_dir = version_dir or dataset_version.new_version_dir(data.output_dir)
  args = beam_options.beam_args(config.runner) + list(extra_beam_args)
  logging.getLogger(__name__).info('Building %s from %s with %s', version_dir, data.input_uri, ' '.join(args))
  start = time.perf_counter()
  in_process = beam_options.runs_in_this_process(config.runner)
  if in_process and data.photo_pool == 'process' and not data.precompute_embeddings:
    transforms.start_process_pool_server()  # the workers run in this process: overlap its start with Beam's
  root = beam.Pipeline(options=PipelineOptions(args))
  build_examples(root, data, version_dir, config.model, distributed=not in_process)
  with beam_options.short_state_sampling() if in_process else contextlib.nullcontext():
    result = root.run()
    result.wait_until_finish()
  seconds = time.perf_counter() - start
  dataset_version.mark_latest(data.output_dir, version_dir)
  return BuildResult(version_dir, dataset_version.read_manifest(version_dir), _counters(result), seconds)


def summary(result: BuildResult) -> str:
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
