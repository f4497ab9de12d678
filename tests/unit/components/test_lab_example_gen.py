"""LabExampleGen's executor on a real Examples artifact: the dataset build's output, TFX's layout."""

import json
import os

import tensorflow as tf
from tfx.types import artifact_utils
from tfx.types import standard_artifacts

import configs
from components.lab_example_gen import component
from components.lab_example_gen import executor
from contracts import beam_options
from contracts import schema
from tests.conftest import copy_sample_photos


def test_executor_writes_examples_with_split_names_and_manifest(tmp_path):
  photos = copy_sample_photos(tmp_path / 'photos', 6)
  (photos / 'broken.jpg').write_bytes(b'\xff\xd8 not really')
  config = configs.load_config(overrides=[f'data.input_uri={photos}', 'data.image_size=32',
                                          'data.split_ratios={train: 0.5, eval: 0.5}',
                                          'data.shards={train: 2, eval: 1}', 'data.augmentation.copies=0'])
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / 'examples')
  context = executor.Executor.Context(beam_pipeline_args=beam_options.beam_args(config.runner),
                                      tmp_dir=str(tmp_path / 'tmp'))
  executor.Executor(context).Do({}, {'examples': [examples]},
                                {'config': json.dumps(configs.to_dict(config))})
  assert sorted(artifact_utils.decode_split_names(examples.split_names)) == ['eval', 'train']
  total = 0
  for split in ('train', 'eval'):
    uri = artifact_utils.get_split_uri([examples], split)
    assert uri == os.path.join(examples.uri, f'Split-{split}')
    files = tf.io.gfile.glob(os.path.join(examples.uri, schema.split_file_pattern(split)))
    count = sum(1 for _ in tf.data.TFRecordDataset(files, compression_type='GZIP'))
    assert count == examples.get_int_custom_property(f'{split}_examples')
    total += count
  assert total == 6
  assert examples.get_int_custom_property('dead_letters') == 1
  with open(os.path.join(examples.uri, schema.DEAD_LETTERS_FILE)) as f:
    assert 'broken.jpg' in f.read()


def test_component_declares_examples_output():
  config = configs.load_config()
  gen = component.LabExampleGen(json.dumps(configs.to_dict(config)), input_fingerprint='abc')
  assert gen.outputs['examples'].type == standard_artifacts.Examples
  assert gen.exec_properties['input_fingerprint'] == 'abc'
