"""The TFX executors with artifact URIs on non-local filesystems, finding every file they wrote there.

- TensorFlow's in-memory `ram://` filesystem for the executors that only use `tf.io.gfile` / TFX `fileio`: the
  ColorizationEvaluator (its inputs, the Examples and the Model, are also on ram://) and the idempotent Pusher.
  A local file API handed such a URI would fail or write a relative `ram:/...` folder under the working directory,
  which the tests check is absent.
- The GCS emulator (tests/integration/test_gcs_io.py) for LabExampleGen, where Beam writes: TensorFlow's GCS client cannot be
  pointed at an emulator, Beam's FileSystems can.
"""

import json
import os
import uuid

from google.cloud import storage
import pytest
import tensorflow as tf
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

import configs
from components.colorization_evaluator import executor as evaluator_executor
from components.idempotent_pusher import executor as pusher_executor
from components.lab_example_gen import executor as example_gen_executor
from contracts import beam_options
from contracts import schema
from pipeline import build_dataset
from tests.conftest import copy_sample_photos
from tests.conftest import TINY_MODEL
from tests.conftest import TINY_SPLITS
from tests.integration.test_gcs_io import BUCKET
from tests.integration.test_gcs_io import client  # pylint: disable=unused-import  # a fixture
from tests.integration.test_gcs_io import emulator  # pylint: disable=unused-import  # a fixture
from trainer import train as train_lib


def _upload_tree(local_dir, remote_dir):
  for folder, _, names in os.walk(local_dir):
    target = os.path.join(remote_dir, os.path.relpath(folder, local_dir))
    tf.io.gfile.makedirs(target)
    for name in names:
      tf.io.gfile.copy(os.path.join(folder, name), os.path.join(target, name), overwrite=True)


def _remote_files(root):
  return sorted(os.path.relpath(os.path.join(folder, name), root)
                for folder, _, names in tf.io.gfile.walk(root) for name in names)


@pytest.fixture(scope='module')
def ram_artifacts(tmp_path_factory):
  """A small dataset (train + eval) and a 2-step model, built locally, then copied to ram://."""
  local = tmp_path_factory.mktemp('remote_artifacts')
  photos = copy_sample_photos(local / 'photos', 8)
  config = configs.load_config(overrides=[
      f'data.input_uri={photos}', *TINY_SPLITS, *TINY_MODEL])
  build_dataset.run_build(config, version_dir=str(local / 'examples'))
  train_lib.train(config, str(local / 'examples'), str(local / 'model' / 'working'), max_steps=2,
                  export_dir=str(local / 'model' / 'Format-Serving'))
  root = f'ram://artifacts-{uuid.uuid4().hex}'
  examples, model = standard_artifacts.Examples(), standard_artifacts.Model()
  examples.uri, model.uri = f'{root}/examples', f'{root}/model'
  model.id = 7
  _upload_tree(str(local / 'examples'), examples.uri)
  _upload_tree(str(local / 'model'), model.uri)
  return config, examples, model, root


def test_evaluator_writes_every_output_on_ram(ram_artifacts, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # where a local file API would create `ram:/...`
  config, examples, model, root = ram_artifacts
  for key, value in dict(min_delta_psnr=-50.0, max_desaturation_rate=1.0, max_delta_colorfulness=100.0,
                         min_hue_recall_vs_sepia=0.0, min_colorfulness_ratio=0.0, min_hue_recall=0.0,
                         min_sector_recall=0.0).items():
    setattr(config.evaluation, key, value)
  evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
  evaluation.uri, blessing.uri = f'{root}/evaluation', f'{root}/blessing'
  context = evaluator_executor.Executor.Context(beam_pipeline_args=beam_options.beam_args(config.runner),
                                                tmp_dir=str(tmp_path / 'tmp'))
  evaluator_executor.Executor(context).Do(
      {'examples': [examples], 'model': [model]}, {'evaluation': [evaluation], 'blessing': [blessing]},
      {'config': json.dumps(configs.to_dict(config)), 'split': 'eval'})
  written = _remote_files(evaluation.uri)
  assert {'metrics.json', 'report.html', 'loss_curves.png', 'samples/000.png'} <= set(written), written
  with tf.io.gfile.GFile(f'{evaluation.uri}/metrics.json') as f:
    metrics = json.load(f)
  assert metrics['blessed'] and metrics['examples'] > 0
  samples = [name for name in written if name.startswith('samples/')]
  with tf.io.gfile.GFile(f'{evaluation.uri}/report.html') as f:
    page = f.read()
  assert all(name in page for name in samples)
  for name in samples:
    with tf.io.gfile.GFile(f'{evaluation.uri}/{name}', 'rb') as f:
      assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  assert _remote_files(blessing.uri) == ['BLESSED']
  assert not os.path.exists(tmp_path / 'ram:'), os.listdir(tmp_path)


def test_pusher_copies_to_ram_once(ram_artifacts, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  _, _, model, root = ram_artifacts
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = f'{root}/pusher_blessing'
  blessing.set_int_custom_property('blessed', 1)
  fileio.makedirs(blessing.uri)
  with fileio.open(f'{blessing.uri}/BLESSED', 'w') as f:
    f.write('')
  serving = f'{root}/serving'
  destination = proto_utils.proto_to_json(pusher_pb2.PushDestination(
      filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving)))
  pushed = []
  for run in range(2):
    pushed_model = standard_artifacts.PushedModel()
    pushed_model.uri = f'{root}/pushed_model_{run}'
    context = pusher_executor.Executor.Context(tmp_dir=str(tmp_path / 'tmp'))
    pusher_executor.Executor(context).Do({'model': [model], 'model_blessing': [blessing]},
                                         {'pushed_model': [pushed_model]},
                                         {'push_destination': destination, 'custom_config': json.dumps({})})
    pushed.append(pushed_model)
  versions = [v.rstrip('/') for v in tf.io.gfile.listdir(serving)]
  assert len(versions) == 1, versions  # the second run recognised the model it had pushed
  expected = _remote_files(f'{model.uri}/Format-Serving')
  assert expected and _remote_files(f'{serving}/{versions[0]}') == expected
  for name in expected:
    with tf.io.gfile.GFile(f'{model.uri}/Format-Serving/{name}', 'rb') as a, \
        tf.io.gfile.GFile(f'{serving}/{versions[0]}/{name}', 'rb') as b:
      assert a.read() == b.read(), name
  assert pushed[0].get_int_custom_property('pushed') == 1
  assert pushed[1].get_int_custom_property('already_pushed') == 1
  assert pushed[1].get_string_custom_property('pushed_destination').rstrip('/') == f'{serving}/{versions[0]}'
  assert not os.path.exists(tmp_path / 'ram:'), os.listdir(tmp_path)


def test_example_gen_writes_examples_to_gcs(client, tmp_path, monkeypatch):  # pylint: disable=redefined-outer-name
  monkeypatch.chdir(tmp_path)
  photos = copy_sample_photos(tmp_path / 'photos', 6)
  (photos / 'broken.jpg').write_bytes(b'\xff\xd8 not really')
  if not client.lookup_bucket(BUCKET):
    client.create_bucket(BUCKET)
  config = configs.load_config(overrides=[f'data.input_uri={photos}', 'data.image_size=32',
                                          'data.split_ratios={train: 0.5, eval: 0.5}',
                                          'data.shards={train: 2, eval: 1}', 'data.augmentation.copies=0'])
  examples = standard_artifacts.Examples()
  examples.uri = f'gs://{BUCKET}/pipeline/LabExampleGen/examples/1'
  context = example_gen_executor.Executor.Context(beam_pipeline_args=beam_options.beam_args(config.runner),
                                                  tmp_dir=str(tmp_path / 'tmp'))
  example_gen_executor.Executor(context).Do({}, {'examples': [examples]},
                                            {'config': json.dumps(configs.to_dict(config))})
  prefix = 'pipeline/LabExampleGen/examples/1/'
  names = sorted(b.name[len(prefix):] for b in client.list_blobs(BUCKET, prefix=prefix))
  shards = [schema.SHARD_PATTERN.format(split=s, index=i, count=n) for s, n in (('train', 2), ('eval', 1))
            for i in range(n)]
  assert names == sorted(shards + [schema.MANIFEST_FILE, schema.DEAD_LETTERS_FILE]), names
  assert sorted(artifact_utils.decode_split_names(examples.split_names)) == ['eval', 'train']
  manifest = json.loads(client.bucket(BUCKET).blob(prefix + schema.MANIFEST_FILE).download_as_bytes())
  total = 0
  for split in ('train', 'eval'):
    count = 0
    for shard in manifest['splits'][split]['shards']:
      local = tmp_path / shard.replace('/', '_')
      client.bucket(BUCKET).blob(prefix + shard).download_to_filename(str(local))
      count += sum(1 for _ in tf.data.TFRecordDataset(str(local), compression_type='GZIP'))
    assert count == examples.get_int_custom_property(f'{split}_examples') == manifest['splits'][split]['examples']
    total += count
  assert total == 6 and examples.get_int_custom_property('dead_letters') == 1
  dead = client.bucket(BUCKET).blob(prefix + schema.DEAD_LETTERS_FILE).download_as_bytes().decode()
  assert 'broken.jpg' in dead
  assert not os.path.exists(tmp_path / 'gs:'), os.listdir(tmp_path)
