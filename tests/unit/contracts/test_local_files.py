"""contracts.local_files: the cache directory, and local copies of remote files (a file:// URI takes the copying path)."""

import os

import pytest

from contracts import lab_table
from contracts import local_files


def test_cache_dir_from_env_else_home(monkeypatch, tmp_path):
  monkeypatch.setenv('COLORIZE_CACHE_DIR', str(tmp_path))
  assert local_files.cache_dir() == str(tmp_path)
  assert lab_table._cache_path().startswith(str(tmp_path) + os.sep)  # pylint: disable=protected-access
  monkeypatch.delenv('COLORIZE_CACHE_DIR')
  assert local_files.cache_dir() == os.path.join(os.path.expanduser('~'), '.cache', 'colorize')


def test_local_path_is_used_in_place(tmp_path):
  path = tmp_path / 'w.h5'
  path.write_bytes(b'x')
  with local_files.local_copy(str(path)) as local:
    assert local == str(path)
  assert path.exists()


def test_remote_file_is_copied_and_the_copy_removed(tmp_path):
  path = tmp_path / 'w.weights.h5'
  path.write_bytes(b'weights')
  with local_files.local_copy(f'file://{path}') as local:  # any tf.io.gfile scheme takes the copying path
    assert local != str(path) and os.path.basename(local) == 'w.weights.h5'
    with open(local, 'rb') as f:
      assert f.read() == b'weights'
  assert not os.path.exists(local)


@pytest.mark.parametrize('scheme', ['', 'file://'])
def test_missing_file_names_what_and_where(tmp_path, scheme):
  path = f'{scheme}{tmp_path}/missing.h5'
  with pytest.raises(FileNotFoundError, match=f'embedder weights not found: {path}'):
    with local_files.local_copy(path, 'embedder weights'):
      pass
