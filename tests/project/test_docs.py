"""The user's documentation (README.md, docs/*.md) says only what the repository does.

- docs/configuration.md is exactly what `python -m configs.reference` renders from configs/definitions.py;
- every generated block (`<!-- NAME:begin -->` ... `<!-- NAME:end -->`: the quality tables, the benchmarks'
  figures, the shipped weights' header) is exactly what `python -m benchmarks.docs_tables` renders from
  benchmarks/results/ now;
- every command in a code block or an inline code span exists: `python -m X` names a module of this project (or an
  installed one), `colorize`, `colorize-web`, ... are console scripts of setup.py, `make X` a Makefile target, and
  every `--flag` before a bare `--` is one the module defines (absl `DEFINE_*` calls and argparse `add_argument`
  calls in the module and the project modules it imports, found by parsing their source, so the test needs no
  TensorFlow; `--noX` for a boolean X);
- every repository path the text names, and every relative link and picture, exists;
- README.md stays a short guide (at most 12 KiB), shows the exact test command CI runs (.ci/run), and neither it
  nor docs/ names a path of one machine (../shared/, /work/, /home/, /tmp/) or the project's development history.
"""

import ast
import functools
import glob
import importlib.util
import os
import re
import shlex
import subprocess

import pytest

from benchmarks import docs_tables
from configs import reference

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/project/..
DOCUMENTS = ['README.md'] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'docs', '*.md')))
PROJECT_PACKAGES = {'configs', 'contracts', 'dataset', 'trainer', 'serving', 'components', 'pipeline', 'benchmarks',
                    'video'}
ABSL_BUILTIN_FLAGS = {'help', 'helpfull', 'helpshort', 'helpxml', 'flagfile', 'undefok', 'only_check_args'}
PATH_PREFIXES = ('configs', 'contracts', 'dataset', 'trainer', 'serving', 'components', 'pipeline', 'benchmarks',
                 'tests', 'docs', 'sample_photos', 'requirements', r'\.ci', 'video')
REPO_PATH = re.compile(r'(?<![\w./:-])((?:' + '|'.join(PATH_PREFIXES) + r')/[\w./*-]*[\w*]'
                       r'|(?:Makefile|Dockerfile|setup\.py|pytest\.ini|README\.md)\b)')
LINK = re.compile(r'\]\(([^)\s]+)\)')
FENCE = re.compile(r'^```(\w*)\n(.*?)^```', re.S | re.M)
INLINE_CODE = re.compile(r'`([^`\n]+)`')
SHELL_LANGUAGES = {'bash', 'sh', 'shell', 'console'}


def _read(path: str) -> str:
  with open(os.path.join(ROOT, path), encoding='utf-8') as f:
    return f.read()


# ---------------------------------------------------------------------------------------------------- generated text

def test_configuration_reference_is_generated_from_the_definitions():
  assert _read('docs/configuration.md') == reference.render(), (
      'docs/configuration.md differs from configs/definitions.py: run python -m configs.reference --write')


@pytest.mark.parametrize('document', docs_tables.DOCUMENTS)
def test_generated_blocks_equal_a_fresh_render(document):
  text = _read(document)
  assert docs_tables.blocks_of(text), f'{document}: no generated block'
  assert text == docs_tables.render_text(text, document), (
      f'{document}: a generated block differs from benchmarks/results/: run python -m benchmarks.docs_tables')


def test_readme_has_the_quality_table():
  assert [name for name, _ in docs_tables.blocks_of(_read('README.md'))] == ['quality-table']


def test_every_document_with_generated_blocks_is_rendered():
  for document in DOCUMENTS:
    if docs_tables.blocks_of(_read(document)):
      assert document in docs_tables.DOCUMENTS, f'{document}: has generated blocks; add it to docs_tables.DOCUMENTS'


def test_missing_row_is_an_error_naming_it(monkeypatch):
  monkeypatch.setitem(docs_tables.QUALITY_MODELS, 'no such model', 'x')
  with pytest.raises(docs_tables.MissingResult, match="no row named 'no such model'"):
    docs_tables.unseen_summary()


# ------------------------------------------------------------------------------------------------- README's promises

def test_readme_is_a_short_guide():
  size = len(_read('README.md').encode('utf-8'))
  assert size <= 12 * 1024, f'README.md is {size} bytes; details belong in docs/'


def test_readme_shows_the_test_command_ci_runs():
  commands = [line.strip() for line in _read('.ci/run').splitlines()
              if line.strip() and not line.startswith('#') and not line.startswith(('set ', 'cd '))]
  assert commands, '.ci/run runs nothing'
  readme_commands = [line.split('#')[0].strip() for _, block in _code_blocks('README.md') for line in block]
  for command in commands:
    assert command in readme_commands, f'.ci/run runs {command!r}, which README.md does not show'


# ---------------------------------------------------------------------------------------------- commands and flags

def _code_blocks(document):
  """(language, lines with continuations joined) of every fenced code block."""
  for language, body in FENCE.findall(_read(document)):
    yield language, body.replace('\\\n', ' ').splitlines()


@functools.lru_cache(maxsize=None)
def _console_scripts() -> dict[str, str]:
  tree = ast.parse(_read('setup.py'))
  scripts = {}
  for node in ast.walk(tree):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
      match = re.fullmatch(r'\s*([\w-]+)\s*=\s*([\w.]+):\w+\s*', node.value)
      if match:
        scripts[match.group(1)] = match.group(2)
  return scripts


@functools.lru_cache(maxsize=None)
def _make_targets() -> set[str]:
  return set(re.findall(r'^([\w.-]+):', _read('Makefile'), re.M))


def _module_path(module: str) -> str | None:
  base = os.path.join(ROOT, *module.split('.'))
  for path in (base + '.py', os.path.join(base, '__init__.py')):
    if os.path.exists(path):
      return path
  return None


@functools.lru_cache(maxsize=None)
def _defined_flags(module: str) -> tuple[frozenset[str], frozenset[str]]:
  """(flags, boolean flags) defined by `module` and the project modules it imports, from their source."""
  names, booleans = set(ABSL_BUILTIN_FLAGS), set()
  seen, todo = set(), [module]
  while todo:
    name = todo.pop()
    path = _module_path(name)
    if name in seen or path is None:
      continue
    seen.add(name)
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read(), path)):
      if isinstance(node, ast.Import):
        todo += [a.name for a in node.names if a.name.split('.')[0] in PROJECT_PACKAGES]
      elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        if node.module.split('.')[0] in PROJECT_PACKAGES:
          todo += [node.module] + [f'{node.module}.{a.name}' for a in node.names]
      elif isinstance(node, ast.Call):
        function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, 'id', '')
        strings = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        strings += [k.value.value for k in node.keywords
                    if k.arg == 'name' and isinstance(k.value, ast.Constant)]
        if function.startswith('DEFINE_') and strings:
          names.add(strings[0])
          if function in ('DEFINE_bool', 'DEFINE_boolean'):
            booleans.add(strings[0])
        elif function == 'add_argument':
          for option in strings:
            if option.startswith('--'):
              names.add(option[2:].replace('-', '_'))
  return frozenset(names), frozenset(booleans)


def _commands(document):
  """(command text, [argv of each simple command]) of every shell line and inline code span."""
  texts = [line for language, lines in _code_blocks(document) if language in SHELL_LANGUAGES for line in lines]
  without_blocks = FENCE.sub('', _read(document))
  texts += [span for span in INLINE_CODE.findall(without_blocks)
            if re.match(r'(\.venv/bin/|python3? -m |make |colorize(-[\w-]+)?( |$))', span)]
  for text in texts:
    try:
      tokens = shlex.split(text, comments=True)
    except ValueError as e:
      raise AssertionError(f'{document}: cannot parse {text!r}: {e}') from None
    argv, commands = [], []
    for token in tokens + [';']:
      if token in (';', '&&', '||', '|', '&'):
        if argv:
          commands.append(argv)
        argv = []
      else:
        argv.append(token)
    yield text, commands


def _check_command(argv: list[str]) -> str | None:
  """What is wrong with one simple command, or None."""
  while argv and re.match(r'^[A-Z_][A-Z0-9_]*=', argv[0]):  # VAR=value prefixes
    argv = argv[1:]
  if not argv:
    return None
  program = os.path.basename(argv[0])
  if program == 'make':
    missing = [t for t in argv[1:] if not t.startswith('-') and '=' not in t and t not in _make_targets()]
    return f'no Makefile target {missing}' if missing else None
  if re.fullmatch(r'python(3(\.\d+)?)?', program):
    if len(argv) < 3 or argv[1] != '-m':
      return None
    module, args = argv[2], argv[3:]
  elif program in _console_scripts():
    module, args = _console_scripts()[program], argv[1:]
  elif program.startswith('colorize'):
    return f'{program} is not a console script of setup.py'
  else:
    return None  # git, cp, kubectl, ...: not ours
  if module.split('.')[0] not in PROJECT_PACKAGES:
    return None if importlib.util.find_spec(module) else f'no module {module}'
  if _module_path(module) is None:
    return f'no module {module} in this repository'
  names, booleans = _defined_flags(module)
  unknown = []
  for arg in args:
    if arg == '--':
      break  # what follows goes to Beam
    arg = arg.strip('[]')
    if not arg.startswith('--'):
      continue
    name = arg[2:].split('=')[0]
    if name not in names and not (name.startswith('no') and name[2:] in booleans):
      unknown.append('--' + name)
  return f'{module} defines no flag {", ".join(unknown)}' if unknown else None


@pytest.mark.parametrize('document', DOCUMENTS)
def test_every_command_and_flag_shown_exists(document):
  wrong = []
  for text, commands in _commands(document):
    for argv in commands:
      problem = _check_command(argv)
      if problem:
        wrong.append(f'{text!r}: {problem}')
  assert not wrong, f'{document}:\n' + '\n'.join(wrong)


def test_the_flag_check_sees_real_flags():
  names, booleans = _defined_flags('pipeline.run_vertex_local')
  assert {'pipeline_root', 'cache', 'helpfull'} <= names and 'cache' in booleans and 'config' not in names
  assert {'config', 'set', 'model', 'compare', 'output'} <= _defined_flags('serving.cli')[0]  # configs.flags too
  assert _check_command(['colorize', 'a.jpg', '--compare', '--model=x']) is None
  assert 'no flag --nonsense' in _check_command(['.venv/bin/python', '-m', 'serving.batch', '--nonsense=1'])
  assert _check_command(['python', '-m', 'serving.batch', '--input=x', '--', '--runner=DataflowRunner']) is None
  assert 'Makefile' in _check_command(['make', 'no-such-target'])


# ---------------------------------------------------------------------------------------------------- config keys

CONFIG_KEY = re.compile(r'(?<![\w/.-])((?:data|model|training|evaluation|push|runner)(?:\.\w+)+)(\*?)')


def _config_key_exists(key: str, prefix_only: bool) -> bool:
  import dataclasses  # pylint: disable=g-import-not-at-top
  import typing  # pylint: disable=g-import-not-at-top
  import configs  # pylint: disable=g-import-not-at-top
  cls = configs.PipelineConfig
  parts = key.split('.')
  for i, part in enumerate(parts):
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    if prefix_only and i == len(parts) - 1:
      return any(name.startswith(part) for name in names)
    if part not in names:
      return False
    hint = hints[part]
    if typing.get_origin(hint) is dict:
      return True  # data.shards.train: any key of the mapping
    if not dataclasses.is_dataclass(hint):
      return i == len(parts) - 1
    cls = hint
  return True  # a whole section


@pytest.mark.parametrize('document', DOCUMENTS)
def test_every_config_key_named_exists(document):
  """`data.image_size`, `--set data.image_size=256`: every dotted config key the text names is a key of the config
  (an error message quoted for its unknown key is not)."""
  unknown = set()
  for span in INLINE_CODE.findall(FENCE.sub('', _read(document))) + [
      line for _, lines in _code_blocks(document) for line in lines]:
    if 'unknown key' in span:
      continue
    for key, star in CONFIG_KEY.findall(span):
      if not _config_key_exists(key, bool(star)):
        unknown.add(key + star)
  assert not unknown, f'{document} names config keys that do not exist: {sorted(unknown)}'


# --------------------------------------------------------------------------------------------------------- paths

@pytest.mark.parametrize('document', DOCUMENTS)
def test_every_repository_path_and_link_exists(document):
  text = _read(document)
  missing = []
  for path in sorted(set(REPO_PATH.findall(text))):
    if '<' in path:
      continue
    if not (glob.glob(os.path.join(ROOT, path)) if '*' in path else os.path.exists(os.path.join(ROOT, path))):
      missing.append(path)
  for target in sorted(set(LINK.findall(text))):
    target = target.split('#')[0]
    if not target or re.match(r'^[a-z]+:', target):
      continue
    if not os.path.exists(os.path.normpath(os.path.join(ROOT, os.path.dirname(document), target))):
      missing.append(f'link {target}')
  assert not missing, f'{document} names what the repository does not hold: {missing}'


def test_every_results_file_is_cited_by_a_document():
  text = ''.join(_read(d) for d in DOCUMENTS)
  tracked = subprocess.run(['git', 'ls-files', 'benchmarks/results'], cwd=ROOT, capture_output=True, text=True,
                           check=False).stdout.split() or sorted(
                               os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'benchmarks/results/*')))
  uncited = [p for p in tracked if os.path.basename(p) not in text]
  assert not uncited, f'results no document cites (cite them or git rm them): {uncited}'


# ---------------------------------------------------------------------------------------------------- wording

@pytest.mark.parametrize('document', DOCUMENTS)
def test_no_machine_paths(document):
  found = re.findall(r'\.\./shared\b|/work/|/home/|/tmp/|/Users/', _read(document))
  assert not found, f'{document} names paths of one machine: {sorted(set(found))}'


def test_no_development_history():
  files = DOCUMENTS + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'configs', '*.yaml')))
  files += ['configs/definitions.py', 'trainer/pretrained/README.md']
  wrong = []
  for path in files:
    if not os.path.exists(os.path.join(ROOT, path)):
      continue
    for number, line in enumerate(_read(path).splitlines(), 1):
      if re.search(r'\b(sessions?|rounds?)\b|issue #\d|#\d+\'s', line, re.I):
        wrong.append(f'{path}:{number}: {line.strip()}')
  assert not wrong, 'development history in user-facing text:\n' + '\n'.join(wrong)
