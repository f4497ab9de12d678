"""The dataset build reading from and writing to gs:// through a real GCS emulator (Beam FileSystems end to end).

`gcp-storage-emulator` runs as a subprocess on 127.0.0.1; google-cloud-storage (used here and inside Beam's gcsio)
talks to it through STORAGE_EMULATOR_HOST. `tf.io.gfile` cannot be pointed at an emulator, so records are read
back by downloading shard bytes with google-cloud-storage and parsing a local copy.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from google.cloud import storage
import portpicker
import pytest
import tensorflow as tf

import configs
from pipeline import build_dataset
from contracts import dataset_version
from contracts import decode
from contracts import schema
from tests.conftest import copy_sample_photos
from tests.conftest import REPO
from tests.conftest import sample_photo_paths

BUCKET = 'bucket'
NUM_PHOTOS = 8
CORRUPT_NAME = 'photos/broken/truncated.jpg'
IMAGE_SIZE = 32

# Beam's gcsio asks google.auth.default() for credentials and, when there are none, retries with backoff for ~23 s
# before connecting anonymously. A static, far-from-expiry token makes discovery succeed at once without any
# network; the emulator ignores the Authorization header, and the token is worthless against real GCS.
_STATIC_TOKEN_ADC = {
    'type': 'authorized_user',
    'client_id': 'gcs-emulator-test',
    'client_secret': 'unused',
    'refresh_token': 'unused',
    'token': 'gcs-emulator-test-token',
    'expiry': '2999-01-01T00:00:00Z',
}


def _wait_until_serving(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
  """The emulator binds its port a moment after the process starts; uploads before that would fail."""
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if proc.poll() is not None:
      raise RuntimeError(f'gcp-storage-emulator exited with {proc.returncode}')
    try:
      with urllib.request.urlopen(url + '/', timeout=1) as response:
        if response.status == 200:
          return
    except (urllib.error.URLError, ConnectionError, TimeoutError):
      time.sleep(0.1)
  raise RuntimeError(f'gcp-storage-emulator did not answer on {url} within {timeout} s')


@pytest.fixture(scope='module')
def emulator(tmp_path_factory):
  """A fresh in-memory emulator and the environment that routes google-cloud-storage (and Beam) to it."""
  port = portpicker.pick_unused_port()
  url = f'http://127.0.0.1:{port}'
  scratch = tmp_path_factory.mktemp('gcs_emulator')
  log_path = scratch / 'emulator.log'  # A file, not a pipe: an unread pipe could fill up and stall the server.
  adc = scratch / 'static_token_adc.json'
  adc.write_text(json.dumps(_STATIC_TOKEN_ADC))
  with open(log_path, 'wb') as log:
    proc = subprocess.Popen(
        [sys.executable, '-m', 'gcp_storage_emulator', 'start', '--host', '127.0.0.1', '--port', str(port),
         '--in-memory', '--quiet'],
        stdout=log, stderr=subprocess.STDOUT)
  try:
    try:
      _wait_until_serving(url, proc)
    except RuntimeError as e:
      raise RuntimeError(f'{e}; its log:\n{log_path.read_text()[-2000:]}') from e
    with pytest.MonkeyPatch.context() as mp:
      mp.setenv('STORAGE_EMULATOR_HOST', url)
      mp.setenv('GOOGLE_CLOUD_PROJECT', 'emulator-project')
      mp.setenv('GOOGLE_APPLICATION_CREDENTIALS', str(adc))
      mp.setenv('NO_GCE_CHECK', 'true')  # never probe the GCE metadata server
      yield url
  finally:
    proc.terminate()
    try:
      proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
      proc.kill()
      proc.wait()


@pytest.fixture(scope='module')
def client(emulator):
  del emulator  # Only needed for its environment.
  return storage.Client.create_anonymous_client()


@pytest.fixture(scope='module')
def uploaded(client):
  """NUM_PHOTOS sample photos under gs://bucket/photos/<category>/ plus one truncated JPEG; returns their URIs."""
  bucket = client.create_bucket(BUCKET)
  photos = sample_photo_paths(NUM_PHOTOS)
  assert len(photos) == NUM_PHOTOS
  uris = []
  for path in photos:
    name = 'photos/' + '/'.join(path.split(os.sep)[-2:])
    bucket.blob(name).upload_from_filename(path, content_type='image/jpeg')
    uris.append(f'gs://{BUCKET}/{name}')
  extra = sample_photo_paths()[-1]  # Not among the photos above: its half is not a duplicate of anything.
  assert extra not in photos
  data = open(extra, 'rb').read()
  bucket.blob(CORRUPT_NAME).upload_from_string(data[: len(data) // 2], content_type='image/jpeg')
  return uris


@pytest.fixture(scope='module')
def build(uploaded):
  del uploaded
  config = configs.load_config(overrides=[
      f'data.input_uri=gs://{BUCKET}/photos',
      f'data.output_dir=gs://{BUCKET}/datasets',
      f'data.image_size={IMAGE_SIZE}',
      'data.augmentation.copies=0',
      'data.shards={train: 1, eval: 1, test: 1}',
  ])
  return build_dataset.run_build(config)


def _blob_names(client, prefix):
  return sorted(b.name for b in client.list_blobs(BUCKET, prefix=prefix))


def _object_name(uri):
  assert uri.startswith(f'gs://{BUCKET}/'), uri
  return uri[len(f'gs://{BUCKET}/'):]


def test_manifest_read_back_from_gcs(build):
  manifest = dataset_version.read_manifest(f'gs://{BUCKET}/datasets')
  assert manifest['version_dir'] == build.version_dir
  assert build.version_dir.startswith(f'gs://{BUCKET}/datasets/')
  assert sum(s['photos'] for s in manifest['splits'].values()) == NUM_PHOTOS
  assert sum(s['examples'] for s in manifest['splits'].values()) == NUM_PHOTOS  # copies=0
  assert manifest['source']['files_read'] == NUM_PHOTOS + 1
  assert manifest['dead_letters']['total'] == 1
  assert manifest['image_size'] == IMAGE_SIZE


def test_latest_points_at_the_build(build, client):
  latest = client.bucket(BUCKET).blob('datasets/' + dataset_version.LATEST_FILE).download_as_text()
  assert latest.strip() == build.version_dir.rsplit('/', 1)[-1]


def test_corrupt_file_is_a_dead_letter(build, client):
  text = client.bucket(BUCKET).blob(_object_name(build.version_dir) + '/' + schema.DEAD_LETTERS_FILE
                                    ).download_as_text()
  letters = [json.loads(line) for line in text.splitlines()]
  assert [(d['uri'], d['reason']) for d in letters] == [(f'gs://{BUCKET}/{CORRUPT_NAME}', decode.TRUNCATED)]


def test_every_shard_object_exists(build, client):
  expected = []
  for split, count in build.manifest['config']['shards'].items():
    expected += [schema.SHARD_PATTERN.format(split=split, index=i, count=count) for i in range(count)]
  for split in build.manifest['splits'].values():
    assert set(split['shards']) <= set(expected)
  version = _object_name(build.version_dir)
  names = _blob_names(client, version + '/')
  assert sorted(expected + [schema.MANIFEST_FILE, schema.DEAD_LETTERS_FILE]) == sorted(
      n[len(version) + 1:] for n in names)


def test_records_parse_with_gcs_provenance(build, client, uploaded, tmp_path):
  bucket = client.bucket(BUCKET)
  version = _object_name(build.version_dir)
  records = []
  for split, info in build.manifest['splits'].items():
    split_records = []
    for relative in info['shards']:
      local = tmp_path / relative.replace('/', '_')
      bucket.blob(f'{version}/{relative}').download_to_filename(str(local))
      split_records += [schema.decode_example_numpy(r.numpy())
                        for r in tf.data.TFRecordDataset(str(local), compression_type='GZIP')]
    assert len(split_records) == info['examples'], split
    records += split_records
  assert len(records) == NUM_PHOTOS
  assert sorted(r[schema.SOURCE_URI] for r in records) == sorted(uploaded)
  for r in records:
    assert r[schema.SOURCE_URI].startswith('gs://')
    assert r[schema.LAB].shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    assert r[schema.AUGMENTATION_ID] == 0
    assert len(r[schema.CONTENT_HASH]) == 64


def _build_command(photos, output_dir):
  return [sys.executable, '-m', 'pipeline.build_dataset', f'--set=data.input_uri={photos}',
          f'--set=data.output_dir={output_dir}', f'--set=data.image_size={IMAGE_SIZE}',
          '--set=data.augmentation.copies=0', '--set=data.photo_workers=2']


def test_build_killed_on_gcs_is_cleaned_up_by_the_next_build(client, uploaded, tmp_path):
  """A build writing to gs:// killed with SIGKILL half-way leaves a version prefix without a manifest; the next
  build deletes every object under it and leaves the complete versions and LATEST right."""
  del uploaded  # the bucket
  output_dir = f'gs://{BUCKET}/killed'
  photos = copy_sample_photos(tmp_path / 'photos', 12)
  # A named pipe posing as a photo: the pool task reading it blocks until the kill, so the build cannot finish.
  os.mkfifo(photos / 'zz_stalls_until_killed.jpg')
  process = subprocess.Popen(_build_command(photos, output_dir), cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
  try:
    deadline = time.monotonic() + 240
    writers = []
    while time.monotonic() < deadline and process.poll() is None and not writers:
      writers = [n for n in _blob_names(client, 'killed/') if n.endswith('/' + dataset_version.WRITER_FILE)]
      time.sleep(0.2)
    assert process.poll() is None, 'the build ended before it could be killed'
    assert writers, 'the build never wrote its writer file to gs://'
    time.sleep(2)  # the pool is working on the photos
  finally:
    os.killpg(process.pid, signal.SIGKILL)  # the build and its pool
    process.wait()
  partial = writers[0].rsplit('/', 1)[0]
  assert not client.bucket(BUCKET).blob(f'{partial}/{schema.MANIFEST_FILE}').exists()

  rerun = subprocess.run(_build_command(copy_sample_photos(tmp_path / 'few', 4), output_dir), cwd=REPO,
                         capture_output=True, text=True, timeout=300)
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  assert f'removed abandoned partial version gs://{BUCKET}/{partial}' in rerun.stdout, rerun.stdout
  assert _blob_names(client, partial + '/') == []  # every object of the killed build is gone
  latest = client.bucket(BUCKET).blob('killed/' + dataset_version.LATEST_FILE).download_as_text().strip()
  assert latest != partial.rsplit('/', 1)[-1]
  assert client.bucket(BUCKET).blob(f'killed/{latest}/{schema.MANIFEST_FILE}').exists()
  assert not client.bucket(BUCKET).blob(f'killed/{latest}/{dataset_version.WRITER_FILE}').exists()
