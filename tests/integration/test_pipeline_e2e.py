"""The whole TFX pipeline under LocalDagRunner on a few bundled photos: ML Metadata executions, artifacts and
lineage, a pushed model that colorizes in a fresh process, and the cache on an unchanged second run."""

import os
import shutil
import subprocess
import sys

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
import pytest

import configs
from pipeline import run_local
from tests.conftest import copy_sample_photos
from tests.conftest import REPO
from tests.conftest import sample_photo_paths
from tests.conftest import tiny_pipeline_overrides


@pytest.fixture(scope='module')
def two_runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('e2e')
  photos = copy_sample_photos(root / 'photos', 8)
  config = configs.load_config(overrides=[
      *tiny_pipeline_overrides(photos),
      f'runner.pipeline_root={root / "pipeline_root"}', f'runner.metadata_path={root / "metadata.sqlite"}',
      f'push.destination={root / "serving_model"}'])
  run_local.run(config, train_steps=2)
  run_local.run(config, train_steps=2)
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = str(root / 'metadata.sqlite')
  return config, root, mlmd.MetadataStore(connection)


def _executions_by_component(store):
  by_type = {}
  for execution in store.get_executions():
    name = store.get_execution_types_by_id([execution.type_id])[0].name
    by_type.setdefault(name.rsplit('.', 1)[-1], []).append(execution)
  return by_type


def test_metadata_records_every_component_and_the_cache(two_runs):
  _, _, store = two_runs
  by_type = _executions_by_component(store)
  states = {component: [metadata_store_pb2.Execution.State.Name(e.last_known_state)
                        for e in sorted(executions, key=lambda e: e.id)]
            for component, executions in by_type.items()}
  # The unchanged second run is served from the cache for the data and the training...
  assert states['LabExampleGen'] == ['COMPLETE', 'CACHED']
  assert states['ColorizerTrainer'] == ['COMPLETE', 'CACHED']
  # ... while the evaluator re-scores, because its baseline input changed: the latest blessed model is now the
  # first run's (TFX keys the cache on input artifacts).
  assert states['ColorizationEvaluator'] == ['COMPLETE', 'COMPLETE']
  assert states['Pusher'] == ['COMPLETE', 'COMPLETE']
  pushes = sorted(store.get_artifacts_by_type('PushedModel'), key=lambda a: a.id)
  # ... and the Pusher recognises the model it already pushed: no second copy under a new version.
  assert pushes[1].custom_properties['already_pushed'].int_value == 1
  assert (pushes[1].custom_properties['pushed_destination'].string_value ==
          pushes[0].custom_properties['pushed_destination'].string_value)


def test_lineage_from_examples_to_pushed_model(two_runs):
  _, _, store = two_runs
  types = {t.id: t.name for t in store.get_artifact_types()}
  artifacts = store.get_artifacts()
  names = sorted({types[a.type_id] for a in artifacts})
  for expected in ('Examples', 'Model', 'ModelRun', 'ModelEvaluation', 'ModelBlessing', 'PushedModel'):
    assert expected in names, names
  model = [a for a in artifacts if types[a.type_id] == 'Model'][0]
  trainer_executions = {e.execution_id for e in store.get_events_by_artifact_ids([model.id])
                        if e.type == metadata_store_pb2.Event.OUTPUT}
  inputs = [e for e in store.get_events_by_execution_ids(list(trainer_executions))
            if e.type == metadata_store_pb2.Event.INPUT]
  assert {types[store.get_artifacts_by_id([e.artifact_id])[0].type_id] for e in inputs} == {'Examples'}
  blessing = [a for a in artifacts if types[a.type_id] == 'ModelBlessing'][0]
  assert blessing.custom_properties['blessed'].int_value == 1
  assert blessing.custom_properties['current_model_id'].int_value == model.id


def test_pushed_model_colorizes_in_a_fresh_process(two_runs):
  config, _, _ = two_runs
  versions = [v for v in os.listdir(config.push.destination) if v.isdigit()]
  assert len(versions) == 1  # TF Serving layout <base>/<version>/, pushed once for two identical runs
  photo = sample_photo_paths()[5]
  script = ('import io, sys; from PIL import Image; from serving import colorizer as c; '
            f'png = c.Colorizer({config.push.destination!r}).colorize(open({photo!r}, "rb").read()); '
            'print(Image.open(io.BytesIO(png)).size)')
  run = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, cwd=REPO, timeout=300)
  assert run.returncode == 0, run.stderr[-2000:]
  from PIL import Image
  assert run.stdout.strip().splitlines()[-1] == str(Image.open(photo).size)


def test_new_photos_rebuild_the_examples(two_runs):
  """Runs last: a third run after adding a photo rebuilds the examples instead of reusing the cache."""
  config, root, store = two_runs
  shutil.copy(sample_photo_paths()[-1], root / 'photos' / 'new_photo.jpg')
  run_local.run(config, train_steps=2)
  gen = sorted(_executions_by_component(store)['LabExampleGen'], key=lambda e: e.id)
  assert [metadata_store_pb2.Execution.State.Name(e.last_known_state) for e in gen] == [
      'COMPLETE', 'CACHED', 'COMPLETE']
  trainer = sorted(_executions_by_component(store)['ColorizerTrainer'], key=lambda e: e.id)
  assert metadata_store_pb2.Execution.State.Name(trainer[-1].last_known_state) == 'COMPLETE'


def test_warm_start_from_blessed_trains_from_the_latest_blessed_model(tmp_path, capfd):
  """`training.warm_start_from_blessed`: the second run's trainer gets the first run's blessed model as TFX's
  `base_model` (so it re-runs on unchanged examples) and starts from its weights."""
  photos = copy_sample_photos(tmp_path / 'photos', 6)
  config = configs.load_config(overrides=[
      *tiny_pipeline_overrides(photos), 'training.warm_start_from_blessed=true',
      'evaluation.max_psnr_regression=100', 'evaluation.max_colorfulness_regression=1000',
      f'runner.pipeline_root={tmp_path / "pipeline_root"}', f'runner.metadata_path={tmp_path / "metadata.sqlite"}',
      f'push.destination={tmp_path / "serving_model"}'])
  run_local.run(config, train_steps=2)
  assert 'warm start:' not in capfd.readouterr().out
  run_local.run(config, train_steps=2)
  second_output = capfd.readouterr().out
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = str(tmp_path / 'metadata.sqlite')
  store = mlmd.MetadataStore(connection)
  trainers = sorted(_executions_by_component(store)['ColorizerTrainer'], key=lambda e: e.id)
  assert [metadata_store_pb2.Execution.State.Name(e.last_known_state) for e in trainers] == ['COMPLETE', 'COMPLETE']
  types = {t.id: t.name for t in store.get_artifact_types()}

  def model_inputs(execution):
    events = [e for e in store.get_events_by_execution_ids([execution.id]) if e.type == metadata_store_pb2.Event.INPUT]
    return [a for a in store.get_artifacts_by_id([e.artifact_id for e in events]) if types[a.type_id] == 'Model']

  first_model = [a for a in store.get_artifacts_by_type('Model')
                 if any(e.execution_id == trainers[0].id and e.type == metadata_store_pb2.Event.OUTPUT
                        for e in store.get_events_by_artifact_ids([a.id]))]
  assert model_inputs(trainers[0]) == []  # nothing blessed yet: the first run starts from scratch
  assert [a.id for a in model_inputs(trainers[1])] == [first_model[0].id]
  # ... and its trainer loaded that model's weights (a wrong or missing file would have failed the run).
  weights = os.path.join(first_model[0].uri, 'Format-Serving', 'warm_start', 'colorizer_weights.npz')
  assert f'warm start: {weights} (2 steps of beta/' in second_output
