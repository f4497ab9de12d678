"""The training corpus builder (`dataset/corpus.py`) on a real local folder and a real git repository, and the
shipped weights file it leads to (`pipeline/ship_colorizer.py`): sources, licences and counts recorded, exact
duplicates and held-out photos dropped, a reproducible draw, check photos refused."""

import hashlib
import json
import os
import subprocess

import numpy as np
import pytest
from PIL import Image

from dataset import corpus
from tests.conftest import REPO


def _photo(path, seed):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  pixels = np.random.default_rng(seed).integers(0, 255, (24, 32, 3), dtype=np.uint8)
  Image.fromarray(pixels).save(path, quality=90)
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


def _git(*args, cwd):
  subprocess.run(['git', *args], cwd=cwd, check=True, capture_output=True,
                 env={**os.environ, 'GIT_AUTHOR_NAME': 't', 'GIT_AUTHOR_EMAIL': 't@t', 'GIT_COMMITTER_NAME': 't',
                      'GIT_COMMITTER_EMAIL': 't@t'})


@pytest.fixture()
def sources(tmp_path):
  shared = tmp_path / 'shared'
  local = {_photo(str(shared / 'objects' / 'cat' / f'{i}.jpg'), i) for i in range(4)}
  repo = tmp_path / 'repos' / 'someone+flowers'
  flowers = {_photo(str(repo / 'data' / f'f{i}.jpg'), 100 + i) for i in range(5)}
  _photo(str(repo / 'data' / 'dup.jpg'), 0)  # the same bytes as a local photo: kept once
  (repo / 'README.md').write_text('not a photo')
  _git('init', '-q', cwd=repo)
  _git('add', '.', cwd=repo)
  _git('commit', '-qm', 'photos', cwd=repo)
  commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=repo, capture_output=True, text=True).stdout.strip()
  held_out = tmp_path / 'held_out'
  held_out.mkdir()
  (held_out / 'x.jpg').write_bytes((shared / 'objects' / 'cat' / '3.jpg').read_bytes())
  yaml_path = tmp_path / 'corpus.yaml'
  yaml_path.write_text(f"""sources:
  - name: objects
    licence: CC BY 4.0
    local: objects
    include: ['**/*.jpg']
  - name: flowers
    licence: CC0 1.0
    repo: someone/flowers
    commit: {commit}
    include: ['data/*.jpg']
    max_photos: 3
""")
  return yaml_path, shared, tmp_path / 'repos', held_out, local, flowers


def test_the_corpus_records_its_sources_and_drops_duplicates_and_held_out_photos(sources, tmp_path):
  yaml_path, shared, repos, held_out, local, flowers = sources
  out = tmp_path / 'corpus'
  summary = corpus.build_corpus(corpus.load_sources(str(yaml_path)), str(out), str(shared), str(repos), [str(held_out)])
  by_source = {s['name']: s for s in summary['sources']}
  assert by_source['objects']['photos'] == 3  # one of 4 is a held-out photo
  assert by_source['flowers']['available'] == 5 and by_source['flowers']['photos'] == 3  # dup dropped; max_photos
  assert by_source['flowers']['licence'] == 'CC0 1.0' and by_source['flowers']['repo'] == 'someone/flowers'
  written = {h['sha256'] for h in summary['photos']}
  assert len(written) == summary['total'] == 6
  assert {h['sha256'] for h in summary['photos'] if h['source'] == 'flowers'} == set(sorted(flowers)[:3])
  for entry in summary['photos']:  # every file is there under its hash, with the right bytes
    (name,) = [n for n in os.listdir(out / entry['source']) if n.startswith(entry['sha256'][:16])]
    assert hashlib.sha256((out / entry['source'] / name).read_bytes()).hexdigest() == entry['sha256']
  assert json.loads((out / 'CORPUS.json').read_text())['total'] == 6
  again = corpus.build_corpus(corpus.load_sources(str(yaml_path)), str(tmp_path / 'again'), str(shared), str(repos),
                              [str(held_out)])
  assert [p['sha256'] for p in again['photos']] == [p['sha256'] for p in summary['photos']]  # reproducible


def test_check_photos_and_bad_source_entries_are_clear_errors(sources, tmp_path):
  yaml_path, shared, repos, _, _, _ = sources
  _photo(str(shared / 'objects' / 'kodim01.png'), 7)
  bad = tmp_path / 'bad.yaml'
  bad.write_text("sources:\n  - {name: objects, licence: x, local: objects, include: ['**/*']}\n")
  with pytest.raises(corpus.CorpusError, match=r'kodim01\.png looks like a BSD/Kodak/McMaster check photo'):
    corpus.build_corpus(corpus.load_sources(str(bad)), str(tmp_path / 'c'), str(shared), str(repos))
  typo = tmp_path / 'typo.yaml'
  typo.write_text("sources:\n  - {name: a, licence: x, local: objects, max_photo: 3}\n")
  with pytest.raises(corpus.CorpusError, match=r"unknown keys \['max_photo'\]"):
    corpus.load_sources(str(typo))
  both = tmp_path / 'both.yaml'
  both.write_text("sources:\n  - {name: a, licence: x, local: objects, repo: a/b, commit: abc}\n")
  with pytest.raises(corpus.CorpusError, match='exactly one of `local` or `repo`'):
    corpus.load_sources(str(both))
  missing = tmp_path / 'missing.yaml'
  missing.write_text("sources:\n  - {name: a, licence: x, repo: someone/flowers, commit: 0123456789abcdef}\n")
  with pytest.raises(corpus.CorpusError, match='commit 0123456789abcdef not in'):
    corpus.build_corpus(corpus.load_sources(str(missing)), str(tmp_path / 'd'), str(shared), str(repos))


def test_the_shipped_file_header_names_the_recipe_and_sources_not_machine_paths(tmp_path):
  import configs
  from pipeline import ship_colorizer
  from tests.conftest import TINY_MODEL
  from trainer.loop import warm_start
  from trainer.networks import fusion
  config = configs.load_config(overrides=[*TINY_MODEL, 'model.loss.kind=mse', f'data.input_uri={tmp_path / "corpus"}',
                                          f'push.destination={tmp_path / "serving"}'])
  colorizer = fusion.build_colorizer(config.model)
  for version in ('100', '200'):
    warm_start.save_weights(colorizer, warm_start.weights_path(str(tmp_path / 'serving' / version)), {
        **warm_start.model_metadata(config.model), 'steps': int(version), 'trained_on': 'abc123'})
  (tmp_path / 'corpus').mkdir()
  (tmp_path / 'corpus' / 'CORPUS.json').write_text(json.dumps({'sources': [
      {'name': 'flowers', 'licence': 'CC0 1.0', 'photos': 3, 'available': 9, 'include': ['*']}]}))
  output = str(tmp_path / 'shipped.npz')
  header = ship_colorizer.ship(config, 'configs/shipped_colorizer.yaml', '', output)
  assert header['steps'] == 200  # the newest push
  assert header['recipe'] == 'shipped_colorizer.yaml'
  assert header['data_sources'] == [{'name': 'flowers', 'licence': 'CC0 1.0', 'photos': 3}]
  assert header['trained_on'] == 'corpus, dataset version abc123'
  assert str(tmp_path) not in json.dumps(header)
  weights, stored = warm_start.read_weights(output)
  assert stored == header
  assert all(np.array_equal(a, b.numpy().astype(np.float16)) for a, b in zip(weights, colorizer.weights))


def test_pixel_filters_path_order_excluded_paths_and_the_held_out_list(tmp_path):
  shared = tmp_path / 'shared'
  colour = {name: _photo(str(shared / 'set' / name), i) for i, name in enumerate(['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'])}
  gray = shared / 'set' / 'gray.jpg'
  Image.fromarray(np.full((24, 32, 3), 90, np.uint8)).save(gray)
  Image.fromarray(np.random.default_rng(9).integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(shared / 'set' / 'tiny.jpg')
  (shared / 'set' / 'drawings').mkdir()
  _photo(str(shared / 'set' / 'drawings' / 'e.jpg'), 50)
  (tmp_path / 'held_out.sha256').write_text(f'# a comment\n{colour["d.jpg"]}  set/d.jpg\n')
  yaml_path = tmp_path / 'corpus.yaml'
  yaml_path.write_text("""held_out_sha256: held_out.sha256
sources:
  - {name: s, licence: x, local: set, include: ['**/*.jpg'], exclude: ['drawings/*'], rgb_only: true,
     min_side: 16, min_mean_chroma: 5.0, order: path_md5, max_photos: 2}
""")
  held_out = corpus.load_held_out(str(yaml_path))
  assert held_out == {colour['d.jpg']}
  summary = corpus.build_corpus(corpus.load_sources(str(yaml_path)), str(tmp_path / 'out'), str(shared), '',
                                held_out=held_out)
  kept = [p['path'] for p in summary['photos']]
  by_md5 = sorted(['a.jpg', 'b.jpg', 'c.jpg'], key=lambda p: hashlib.md5(p.encode()).hexdigest())
  assert kept == by_md5[:2]  # gray, tiny, excluded and held-out photos never count towards max_photos
  bad = tmp_path / 'bad.yaml'
  bad.write_text("sources:\n  - {name: s, licence: x, local: set, order: newest}\n")
  with pytest.raises(corpus.CorpusError, match="order 'newest' is not content_hash or path_md5"):
    corpus.load_sources(str(bad))


def test_the_project_corpus_holds_out_every_bundled_photo_and_names_its_licences():
  path = os.path.join(REPO, 'configs', 'corpus.yaml')
  sources = corpus.load_sources(path)
  assert sum(s.max_photos for s in sources) >= 10_000 and all(s.licence for s in sources)
  assert all(s.repo and len(s.commit) >= 7 for s in sources)  # every source is public and pinned
  held_out = corpus.load_held_out(path)
  for folder, _, names in os.walk(os.path.join(REPO, 'sample_photos')):
    for name in names:
      if name.lower().endswith(corpus.IMAGE_EXTENSIONS):
        with open(os.path.join(folder, name), 'rb') as f:
          assert hashlib.sha256(f.read()).hexdigest() in held_out, name
