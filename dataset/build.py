"""The dataset build: raw colour photos -> augmented, sharded Lab TFRecords in a new versioned folder.

`run_build` runs it on its own (local runs, scheduled runs, full rebuilds on Dataflow/Flink/Spark; its command
line is `pipeline.build_dataset`), `build_examples` adds it to a Beam pipeline (the TFX pipeline's LabExampleGen).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import logging
import time
from typing import Any, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

import configs
from contracts import beam_options
from contracts import dataset_version
from contracts import dead_letters
from contracts import matching
from contracts import schema
from contracts import sources
from contracts import tfrecord_files
from dataset import pool
from dataset import records
from dataset import shard_writer
from dataset import tfds_source


@dataclasses.dataclass
class BuildResult:
  """What a build produced: the version folder, its manifest, the Beam counters and the wall time."""
  version_dir: str
  manifest: dict[str, Any]
  counters: dict[str, int]
  seconds: float
  removed_versions: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (folder, why): abandoned


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
      'record_format': 'gzip TFRecord of tf.train.Example, features in contracts/schema.py',
      'config': configs.to_dict(configs.PipelineConfig(data=data))['data'],
      'splits': splits,
      'dead_letters': {'total': sum(dead_letters_by_reason.values()), 'by_reason': dead_letters_by_reason,
                       'file': schema.DEAD_LETTERS_FILE},
      'source': {'input_uri': data.input_uri, 'files_read': files_read, 'fingerprint': fingerprint},
      'embedding': embedding,
  }


def _finish_version(grouped: dict[str, Any], *, data, version_dir, embedding=None) -> str:
  """Last step of a build: dead-letter file, spill cleanup, then the manifest that marks the version complete."""
  shards = shard_writer.write_empty_shards(version_dir, data.shards, grouped['shards'])
  sources_summary = records.summarize_sources(grouped['sources'])
  encoded = sources_summary['records_encoded']
  arrived = sum(s['examples'] + s['duplicate_records'] for s in shards)
  if arrived != encoded:
    raise DataLossError(f'{version_dir}: records lost: {encoded} records were encoded but {arrived} reached the '
                        'shard writers; refusing to write the manifest (seen with the FnApiRunner in '
                        'multi_processing mode on large records: use direct_running_mode=in_memory; a runner that '
                        'drops what DoFns emit from finish_bundle, like DaskRunner, does the same)')
  letters, listed_counts = list(grouped['dead_letters']), list(grouped['listed'])
  if listed_counts:  # file inputs (one count per pattern): every listed file was read or is a read-stage dead letter
    listed = sum(listed_counts)
    reached = sources_summary['files_read'] + sum(1 for letter in letters if letter[1] == 'read')
    if reached != listed:
      raise DataLossError(f'{version_dir}: files lost: {listed} files were listed but {reached} reached the photo '
                          'stage; refusing to write the manifest (a runner that drops what DoFns emit from '
                          'finish_bundle, like DaskRunner, loses file batches and their records together)')
  dead_letters_by_reason = dead_letters.write_dead_letters(
      letters, beam.io.filesystems.FileSystems.join(version_dir, schema.DEAD_LETTERS_FILE))
  manifest = _manifest(shards, dead_letters_by_reason, sources_summary, data=data, version_dir=version_dir,
                       embedding=embedding)
  tfrecord_files.delete_spill_dir(beam.io.filesystems.FileSystems.join(version_dir, SPILL_DIR))
  path = beam.io.filesystems.FileSystems.join(version_dir, schema.MANIFEST_FILE)
  dataset_version.write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + '\n')
  return path


def build_examples(root: beam.Pipeline, data: configs.DataConfig, version_dir: str,
                   model: configs.ModelConfig | None = None, *, distributed: bool = True,
                   embedding: records.Embedding | None = None) -> beam.PCollection:
  """Adds the whole build to `root`; returns a PCollection holding the manifest path once everything is written.

  With `data.precompute_embeddings`, `embedding` is the frozen embedder (of `model`, which must be the fusion
  variant) whose output each record stores (Deep Koalarization's approach: computed once here instead of twice per
  training batch); the caller hands it in (`pipeline.build_dataset` and LabExampleGen wire `trainer.networks.embedders`). `distributed=False` (the
  workers run in the launching process) drops the shuffle that spreads the file list over workers.
  """
  if data.precompute_embeddings:
    if model is None or model.network.variant != 'fusion':
      raise configs.ConfigError('data.precompute_embeddings: needs model.network.variant=fusion (an embedder to run)')
    if embedding is None:
      raise configs.ConfigError('data.precompute_embeddings: the caller handed in no embedder (see `Embedding`)')
  else:
    embedding = None
  source = sources.parse_input_uri(data.input_uri)
  if source.kind == 'tfds':
    photos = root | 'ReadTfds' >> tfds_source.ReadTfds(source.tfds_name, source.tfds_split, data.tfds_data_dir)
    match_dead = root | 'NoMatchDeadLetters' >> beam.Create([])
    listed = root | 'NoListing' >> beam.Create([])
  else:
    photos, match_dead, listed = root | 'MatchFiles' >> matching.MatchFiles(
        source.patterns, spread=distributed, batch_size=pool.PHOTOS_PER_TASK,
        counter_namespace=records.COUNTER_NAMESPACE, with_counts=True)
  manifest_embedding = {'name': embedding.name, 'size': embedding.size} if embedding else None
  spill_dir = beam.io.filesystems.FileSystems.join(version_dir, SPILL_DIR) if data.spill_records else None
  processed = photos | 'ProcessPhotos' >> beam.ParDo(
      pool.ProcessPhotosFn(data, embedding.make_fn if embedding else None, spill_dir)).with_outputs(
          records.DEAD_LETTER_TAG, records.SOURCES_TAG, main='records')
  written = processed.records | 'WriteShards' >> shard_writer.WriteShards(
      version_dir, data.shards, data.drop_duplicates)
  dead = ((match_dead, written[records.DEAD_LETTER_TAG], processed[records.DEAD_LETTER_TAG])
          | 'AllDeadLetters' >> beam.Flatten())
  # Everything the manifest needs meets in one single-key CoGroupByKey (fewer stages at the end of the job than a
  # combine, a ToList and side inputs); the trigger makes it fire even when there is no input at all.
  manifest_inputs = {'shards': written.shards, 'dead_letters': dead, 'sources': processed[records.SOURCES_TAG],
                     'listed': listed, 'trigger': root | 'ManifestTrigger' >> beam.Create([None])}
  return ({name: pcoll | f'Key{name.title().replace("_", "")}' >> beam.Map(lambda value: (None, value))
           for name, pcoll in manifest_inputs.items()}
          | 'GatherForManifest' >> beam.CoGroupByKey()
          | 'WriteManifest' >> beam.MapTuple(
              lambda _, grouped: _finish_version(grouped, data=data, version_dir=version_dir,
                                              embedding=manifest_embedding)))


def _counters(result) -> dict[str, int]:
  counters = {}
  try:
    for counter in result.metrics().query()['counters']:
      if counter.key.metric.namespace == records.COUNTER_NAMESPACE:
        name = counter.key.metric.name
        counters[name] = counters.get(name, 0) + (counter.committed if counter.committed is not None
                                                  else counter.attempted)
  except (NotImplementedError, KeyError):
    pass
  return dict(sorted(counters.items()))


def run_build(config: configs.PipelineConfig, extra_beam_args: Sequence[str] = (),
              version_dir: str | None = None, embedding: records.Embedding | None = None) -> BuildResult:
  """Runs the build with the configured Beam runner; marks the new version LATEST once it is complete.

  Args:
    config: The pipeline config; only `data` and `runner` are read.
    extra_beam_args: Beam options appended to the runner's (e.g. `--runner=DataflowRunner --temp_location=...`).
    version_dir: Where to write; default a new timestamped folder under `data.output_dir`.
    embedding: The frozen embedder, needed when `data.precompute_embeddings` is set (see `build_examples`).
  """
  data = config.data
  # Refuses a runner known to lose data (UnsupportedRunnerError) before any folder exists.
  args = beam_options.beam_args(config.runner, extra_beam_args)
  version_dir = version_dir or dataset_version.new_version_dir(data.output_dir)
  logging.getLogger(__name__).info('Building %s from %s with %s', version_dir, data.input_uri, ' '.join(args))
  start = time.perf_counter()
  with dataset_version.WriterLock(version_dir):
    # Partial versions of killed builds (no manifest, writer gone) go first; complete versions are never touched.
    removed = dataset_version.remove_abandoned(data.output_dir, version_dir)
    result = _run_pipeline(config, data, version_dir, args, embedding)
  seconds = time.perf_counter() - start
  dataset_version.mark_latest(data.output_dir, version_dir)
  return BuildResult(version_dir, dataset_version.read_manifest(version_dir), _counters(result), seconds, removed)


def _run_pipeline(config, data, version_dir, args, embedding):
  in_process = beam_options.runs_in_this_process(config.runner)
  if in_process and data.photo_pool == 'process' and not data.precompute_embeddings:
    pool.start_process_pool_server()  # the workers run in this process: overlap its start with Beam's
  root = beam.Pipeline(options=PipelineOptions(args))
  build_examples(root, data, version_dir, config.model, distributed=not in_process, embedding=embedding)
  with beam_options.short_state_sampling() if in_process else contextlib.nullcontext():
    result = root.run()
    result.wait_until_finish()
  return result
