"""Rebuilds the training corpus (a folder of colour photos) from the public sources listed in a YAML file.

    python -m dataset.corpus --sources=configs/corpus.yaml --output=outputs/corpus --repos_dir=outputs/repos

Each source is a local folder (under --shared_data) or a public git repository read at a pinned commit (cloned
into --repos_dir when it is not there yet; a bare clone or a mirror works). Photos are content-hashed (SHA-256):
exact duplicates within and across sources are kept once, photos whose bytes are held out (the YAML's
`held_out_sha256` list: the bundled and benchmark photos; folders given by --exclude) are dropped, a source's
pixel filters drop gray or tiny photos, and its `max_photos` keeps a reproducible draw (`CorpusSource`). Writes `<output>/<source>/<hash>.<ext>` and `<output>/CORPUS.json`: every source's
licence, commit and count, and each photo's hash and origin, so the corpus can be audited and rebuilt.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import io
import json
import os
import subprocess
import sys
from typing import Iterator, Sequence

from absl import app
from absl import flags
import numpy as np
from PIL import Image
import yaml

# File names of the photo sets kept for checks from outside: never part of a training corpus.
FORBIDDEN_NAME_PATTERNS = ('*bsd*', '*bsds*', '*cbsd*', '*kodim*', '*kodak*', '*mcmaster*')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


class CorpusError(ValueError):
  """A source cannot be read, or is not allowed in a training corpus."""


@dataclasses.dataclass(frozen=True)
class CorpusSource:
  """One entry of the sources YAML: where the photos are, what they show, under which licence, and which are kept.

  `exclude` patterns drop paths (e.g. drawings or all-gray categories); `rgb_only`, `min_side` and
  `min_mean_chroma` (mean YCbCr chroma, sqrt((Cb-128)^2 + (Cr-128)^2)) drop photos by their pixels; `max_photos`
  keeps the first photos that pass in `order`: `content_hash` (SHA-256 of the bytes) or `path_md5` (MD5 of the
  path in the source, the order some published selections use).
  """
  name: str
  licence: str
  include: tuple[str, ...]
  exclude: tuple[str, ...] = ()
  max_photos: int = 0
  order: str = 'content_hash'
  rgb_only: bool = False
  min_side: int = 0
  min_mean_chroma: float = 0.0
  content: str = ''
  attribution: str = ''
  local: str = ''
  repo: str = ''
  commit: str = ''

  def __post_init__(self):
    if bool(self.local) == bool(self.repo):
      raise CorpusError(f'corpus source {self.name!r}: give exactly one of `local` or `repo`')
    if self.repo and not self.commit:
      raise CorpusError(f'corpus source {self.name!r}: a repo source needs the `commit` it is read at')
    if self.order not in ('content_hash', 'path_md5'):
      raise CorpusError(f'corpus source {self.name!r}: order {self.order!r} is not content_hash or path_md5')

  def passes(self, data: bytes) -> bool:
    """Whether a photo passes the pixel filters (always, when none is set)."""
    if not (self.rgb_only or self.min_side or self.min_mean_chroma):
      return True
    try:
      image = Image.open(io.BytesIO(data))
      if (self.rgb_only and image.mode != 'RGB') or min(image.size) < self.min_side:
        return False
      ycbcr = np.asarray(image.convert('YCbCr'), np.float64)
    except (OSError, ValueError):  # undecodable: the dataset build would dead-letter it anyway
      return False
    return float(np.mean(np.hypot(ycbcr[..., 1] - 128, ycbcr[..., 2] - 128))) >= self.min_mean_chroma


def load_sources(path: str) -> list[CorpusSource]:
  """Parses the sources YAML; unknown keys are errors, so a typo cannot silently drop a filter."""
  with open(path, encoding='utf-8') as f:
    raw = yaml.safe_load(f) or {}
  known = {field.name for field in dataclasses.fields(CorpusSource)}
  sources = []
  for entry in raw.get('sources', []):
    unknown = set(entry) - known
    if unknown:
      raise CorpusError(f'{path}: source {entry.get("name")!r} has unknown keys {sorted(unknown)}')
    entry = dict(entry, include=tuple(entry.get('include', ['**/*'])), exclude=tuple(entry.get('exclude', [])))
    sources.append(CorpusSource(**entry))
  if len({s.name for s in sources}) != len(sources):
    raise CorpusError(f'{path}: source names must be unique')
  return sources


def load_held_out(path: str) -> set[str]:
  """The SHA-256 hashes listed by the sources YAML's `held_out_sha256` file (relative to the YAML), if any."""
  with open(path, encoding='utf-8') as f:
    listing = (yaml.safe_load(f) or {}).get('held_out_sha256')
  if not listing:
    return set()
  with open(os.path.join(os.path.dirname(path), listing), encoding='utf-8') as f:
    return {line.split()[0] for line in f if line.strip() and not line.startswith('#')}


def _matches(path: str, patterns: Sequence[str]) -> bool:
  lowered = path.lower()
  if not lowered.endswith(IMAGE_EXTENSIONS):
    return False
  return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.replace('**/', '')) for p in patterns)


def _check_allowed(source: CorpusSource, path: str) -> None:
  lowered = os.path.basename(path).lower()
  if any(fnmatch.fnmatch(lowered, p) for p in FORBIDDEN_NAME_PATTERNS):
    raise CorpusError(f'corpus source {source.name!r}: {path} looks like a BSD/Kodak/McMaster check photo, '
                      'which must never be trained on')


def _local_photos(source: CorpusSource, shared_data: str) -> Iterator[tuple[str, bytes]]:
  root = os.path.join(shared_data, source.local)
  if not os.path.isdir(root):
    raise CorpusError(f'corpus source {source.name!r}: folder {root} not found (set --shared_data)')
  for folder, _, files in sorted(os.walk(root)):
    for name in sorted(files):
      relative = os.path.relpath(os.path.join(folder, name), root)
      if _matches(relative, source.include):
        _check_allowed(source, relative)
        with open(os.path.join(root, relative), 'rb') as f:
          yield relative, f.read()


def _git_dir(source: CorpusSource, repos_dir: str) -> str:
  """The repository's git directory under repos_dir (`owner+name`, bare or not), cloned bare if absent."""
  base = os.path.join(repos_dir, source.repo.replace('/', '+'))
  for candidate in (os.path.join(base, 'repo'), os.path.join(base, 'repo', '.git'), os.path.join(base, '.git'), base):
    if os.path.isdir(os.path.join(candidate, 'objects')):
      return candidate
  url = f'https://github.com/{source.repo}.git'
  print(f'  cloning {url} into {base} ...', flush=True)
  result = subprocess.run(['git', 'clone', '--bare', '--quiet', url, base], capture_output=True, text=True,
                          check=False)
  if result.returncode:
    raise CorpusError(f'corpus source {source.name!r}: cannot clone {url}: {result.stderr.strip()}')
  return base


def _repo_photos(source: CorpusSource, repos_dir: str) -> Iterator[tuple[str, bytes]]:
  git_dir = _git_dir(source, repos_dir)
  listing = subprocess.run(['git', '--git-dir', git_dir, 'ls-tree', '-r', source.commit], capture_output=True,
                           text=True, check=False)
  if listing.returncode:
    raise CorpusError(f'corpus source {source.name!r}: commit {source.commit} not in {git_dir}: '
                      f'{listing.stderr.strip()}')
  blobs = []
  for line in listing.stdout.splitlines():
    meta, path = line.split('\t', 1)
    if meta.split()[1] == 'blob' and _matches(path, source.include):
      _check_allowed(source, path)
      blobs.append((path, meta.split()[2]))
  reader = subprocess.Popen(['git', '--git-dir', git_dir, 'cat-file', '--batch'], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
  try:
    for path, sha in blobs:
      reader.stdin.write(f'{sha}\n'.encode())
      reader.stdin.flush()
      header = reader.stdout.readline().split()
      size = int(header[2])
      data = reader.stdout.read(size)
      reader.stdout.read(1)  # the newline after each object
      if data.startswith(b'version https://git-lfs'):
        raise CorpusError(f'corpus source {source.name!r}: {path} is a Git LFS pointer, not a photo')
      yield path, data
  finally:
    reader.stdin.close()
    reader.wait()


def _hashes_under(folders: Sequence[str]) -> set[str]:
  hashes = set()
  for root in folders:
    for folder, _, files in os.walk(root):
      for name in files:
        if name.lower().endswith(IMAGE_EXTENSIONS):
          with open(os.path.join(folder, name), 'rb') as f:
            hashes.add(hashlib.sha256(f.read()).hexdigest())
  return hashes


def _order_key(source: CorpusSource, digest: str, path: str) -> str:
  return hashlib.md5(path.encode('utf-8')).hexdigest() if source.order == 'path_md5' else digest


def build_corpus(sources: Sequence[CorpusSource], output: str, shared_data: str, repos_dir: str,
                 exclude: Sequence[str] = (), held_out: set[str] | frozenset[str] = frozenset()) -> dict:
  """Writes the corpus folder and its CORPUS.json; returns the CORPUS.json content. Photos whose bytes match a file
  under an `exclude` folder or a `held_out` hash are left out."""
  excluded = _hashes_under(exclude) | set(held_out)
  seen: set[str] = set()
  summary = {'sources': [], 'photos': []}
  for source in sources:
    photos = source_photos(source, shared_data, repos_dir)
    candidates = {}
    for path, data in photos:
      if any(fnmatch.fnmatch(path, pattern) for pattern in source.exclude):
        continue
      digest = hashlib.sha256(data).hexdigest()
      if digest not in excluded and digest not in seen and digest not in candidates:
        candidates[digest] = (path, data)
    chosen = []
    for digest in sorted(candidates, key=lambda d: _order_key(source, d, candidates[d][0])):
      if source.max_photos and len(chosen) == source.max_photos:
        break
      if source.passes(candidates[digest][1]):
        chosen.append(digest)
    folder = os.path.join(output, source.name)
    os.makedirs(folder, exist_ok=True)
    for digest in chosen:
      path, data = candidates[digest]
      extension = os.path.splitext(path)[1].lower()
      with open(os.path.join(folder, digest[:16] + extension), 'wb') as f:
        f.write(data)
      summary['photos'].append({'sha256': digest, 'source': source.name, 'path': path})
    seen.update(chosen)
    entry = {key: value for key, value in dataclasses.asdict(source).items() if value not in ('', 0, ())}
    entry.update(available=len(candidates), photos=len(chosen))
    summary['sources'].append(entry)
    print(f'  {source.name}: {len(chosen)} photos (of {len(candidates)} distinct)', flush=True)
  summary['total'] = len(summary['photos'])
  with open(os.path.join(output, 'CORPUS.json'), 'w', encoding='utf-8') as f:
    json.dump(summary, f, indent=1)
  return summary


def source_photos(source: CorpusSource, shared_data: str, repos_dir: str) -> Iterator[tuple[str, bytes]]:
  """(path within the source, bytes) of every photo the source's `include` patterns select."""
  if source.local:
    return _local_photos(source, shared_data)
  return _repo_photos(source, repos_dir)


FLAGS = flags.FLAGS


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so other commands can import the module."""
  flags.DEFINE_string('sources', 'configs/corpus.yaml', 'The sources YAML.')
  flags.DEFINE_string('output', 'outputs/corpus', 'The corpus folder to write (a data.input_uri for the build).')
  flags.DEFINE_string('shared_data', '../shared/data', 'Root of the `local:` sources.')
  flags.DEFINE_string('repos_dir', 'outputs/repos', 'Where git sources are cloned (or already are).')
  flags.DEFINE_list('exclude', [], 'Folders of more held-out photos (on top of the YAML\'s held_out_sha256 list): '
                    'any corpus photo with the same bytes is dropped.')


def main(argv: Sequence[str]) -> None:
  del argv
  try:
    sources = load_sources(FLAGS.sources)
    print(f'Building the corpus from {len(sources)} sources into {FLAGS.output} ...', flush=True)
    summary = build_corpus(sources, FLAGS.output, FLAGS.shared_data, FLAGS.repos_dir, FLAGS.exclude,
                           load_held_out(FLAGS.sources))
  except CorpusError as e:
    raise SystemExit(f'error: {e}') from None
  print(f'=== Summary ===\n{summary["total"]} photos in {FLAGS.output} (sources, licences, hashes: '
        f'{os.path.join(FLAGS.output, "CORPUS.json")})')


if __name__ == '__main__':
  define_flags()
  sys.exit(app.run(main))
