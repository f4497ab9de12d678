"""ColorizerTrainer's executor with real Examples/Model/ModelRun artifacts (the standard Trainer contract)."""

import json
import os

from tfx.proto import trainer_pb2
from tfx.types import channel_utils
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

import configs
from components.colorizer_trainer import component
from components.colorizer_trainer import executor
from pipeline import build_dataset
from tests.conftest import copy_sample_photos
from tests.conftest import TINY_MODEL
from tests.conftest import TINY_SPLITS


def test_executor_trains_and_writes_format_serving(tmp_path):
  photos = copy_sample_photos(tmp_path / 'photos', 6)
  config = configs.load_config(overrides=[
      f'data.input_uri={photos}', *TINY_SPLITS, *TINY_MODEL])
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / 'examples')
  build_dataset.run_build(config, version_dir=examples.uri)
  examples.split_names = '["train", "eval"]'  # as LabExampleGen sets it; the trainer finds its files through it
  model, model_run = standard_artifacts.Model(), standard_artifacts.ModelRun()
  model.uri, model_run.uri = str(tmp_path / 'model'), str(tmp_path / 'model_run')
  executor.Executor().Do(
      {'examples': [examples]}, {'model': [model], 'model_run': [model_run]},
      {'train_args': proto_utils.proto_to_json(trainer_pb2.TrainArgs(num_steps=2)),
       'custom_config': json.dumps({'config': configs.to_dict(config)})})
  assert os.path.exists(os.path.join(model.uri, 'Format-Serving', 'saved_model.pb'))
  assert any(f.startswith('events.out.tfevents') for f in os.listdir(os.path.join(model_run.uri, 'train')))
  history = json.load(open(os.path.join(model.uri, 'working', 'history.json')))
  assert history['step'][-1] == 2


def test_component_keeps_the_standard_trainer_contract():
  examples = channel_utils.as_channel([standard_artifacts.Examples()])
  trainer = component.ColorizerTrainer(examples=examples, custom_config={'config': {}},
                                    train_args=trainer_pb2.TrainArgs(num_steps=5))
  assert set(trainer.outputs) == {'model', 'model_run'}
  assert trainer.outputs['model'].type == standard_artifacts.Model
  assert json.loads(trainer.exec_properties['custom_config']) == {'config': {}}


def _fake_examples(tmp_path, splits=('train', 'eval')):
  from tfx.types import artifact_utils
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / 'examples')
  examples.split_names = artifact_utils.encode_split_names(list(splits))
  model, model_run = standard_artifacts.Model(), standard_artifacts.ModelRun()
  model.uri, model_run.uri = str(tmp_path / 'model'), str(tmp_path / 'model_run')
  return examples, model, model_run


def test_executor_hands_run_fn_the_requested_splits_and_fails_without_a_model(tmp_path, monkeypatch):
  import pytest
  from trainer import train
  seen = []
  monkeypatch.setattr(train, 'run_fn', seen.append)  # a training function that writes nothing
  examples, model, model_run = _fake_examples(tmp_path, ('train', 'eval', 'extra'))
  with pytest.raises(executor.ModelNotWrittenError, match='Format-Serving'):
    executor.Executor().Do(
        {'examples': [examples]}, {'model': [model], 'model_run': [model_run]},
        {'train_args': proto_utils.proto_to_json(trainer_pb2.TrainArgs(splits=['train', 'extra'])),
         'eval_args': proto_utils.proto_to_json(trainer_pb2.EvalArgs(splits=['eval'])),
         'custom_config': json.dumps({'config': {}})})
  fn_args = seen[0]
  assert fn_args.train_files == [os.path.join(examples.uri, 'Split-train', '*'),
                                 os.path.join(examples.uri, 'Split-extra', '*')]
  assert fn_args.eval_files == [os.path.join(examples.uri, 'Split-eval', '*')]


def test_executor_refuses_a_split_the_examples_lack(tmp_path):
  import pytest
  examples, model, model_run = _fake_examples(tmp_path)
  with pytest.raises(ValueError, match='nope'):
    executor.Executor().Do(
        {'examples': [examples]}, {'model': [model], 'model_run': [model_run]},
        {'train_args': proto_utils.proto_to_json(trainer_pb2.TrainArgs(splits=['nope'])), 'custom_config': '{}'})


def test_other_splits_train_through_a_dataset_view(tmp_path):
  """train_args.splits other than the version's own: the trainer reads a view manifest listing those shards."""
  from trainer.input import data
  from trainer import train
  photos = copy_sample_photos(tmp_path / 'photos', 6)
  config = configs.load_config(overrides=[
      f'data.input_uri={photos}', 'data.image_size=32', 'data.split_ratios={train: 0.5, eval: 0.5}',
      'data.shards={train: 1, eval: 1}', 'data.augmentation.copies=0', 'data.photo_pool=thread'])
  version = str(tmp_path / 'examples')
  build_dataset.run_build(config, version_dir=version)
  view = train._dataset_dir_of([f'{version}/Split-train/*', f'{version}/Split-eval/*'], [f'{version}/Split-eval/*'],
                               str(tmp_path / 'view'))
  info = data.dataset_info(view)
  assert ['Split-train' in f for f in info.files['train']] == [True, False] and len(info.files['eval']) == 1
  assert all(f.startswith(version) for f in info.files['train'] + info.files['eval'])
  assert train._dataset_dir_of([f'{version}/Split-train/*'], [f'{version}/Split-eval/*'], str(tmp_path / 'v2')) == version
