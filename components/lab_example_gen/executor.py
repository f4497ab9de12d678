"""Runs the dataset build (dataset.build.build_examples) into the Examples artifact.

Keys:
  exec_properties['config']: the example gen's slice of the PipelineConfig as JSON (`configs.slice_json`):
    `data`, plus `model` only when `data.precompute_embeddings` runs the model's embedder here; nothing else, so
    the cache follows only what changes the examples.
  exec_properties['input_fingerprint']: fingerprint of the input photos (only there to key the cache).
  output_dict['examples']: the Examples artifact; it receives `Split-<name>/data_tfrecord-*.gz`, `dataset.json`
    and `dead_letters.jsonl`, the same layout as a stand-alone build's version folder.
"""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils

import configs
from dataset import build as build_dataset
from components.lab_example_gen import embedding as embedding_lib
from contracts import dataset_version

CONFIG_KEY = 'config'
INPUT_FINGERPRINT_KEY = 'input_fingerprint'
EXAMPLES_KEY = 'examples'


class Executor(base_beam_executor.BaseBeamExecutor):
  """Builds the Lab TFRecords with the pipeline's Beam arguments."""

  def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
         exec_properties: dict[str, Any]) -> None:
    del input_dict
    config = configs.config_from_slice(exec_properties[CONFIG_KEY])
    examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
    with self._make_beam_pipeline() as root:
      build_dataset.build_examples(root, config.data, examples.uri, config.model,
                                   embedding=embedding_lib.embedding_for(config))
    manifest = dataset_version.read_manifest(examples.uri)
    examples.split_names = artifact_utils.encode_split_names(list(manifest['splits']))
    for split, counts in manifest['splits'].items():
      examples.set_int_custom_property(f'{split}_examples', counts['examples'])
    examples.set_int_custom_property('dead_letters', manifest['dead_letters']['total'])
    examples.set_string_custom_property('source_fingerprint', manifest['source']['fingerprint'])
