"""The house rules of the code base: imports between this project's packages only point down the layers.

    4  pipeline/                      the DAG and its runners, the command lines
    3  components/                    TFX components
    2  dataset/  trainer/  serving/   the Beam dataset job, the trainer, the end-user tools (siblings: no imports
                                      between them)
    1  contracts/                     what every stage reads: colour, schema, file layout, decode, limits, ...
    0  configs/                       typed configs and flags

Every import is checked, also those inside functions (lazy imports), by parsing the source with `ast`.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]  # tests/project/..
LAYERS = {'configs': 0, 'contracts': 1, 'dataset': 2, 'trainer': 2, 'serving': 2, 'components': 3, 'pipeline': 4}


def _modules():
  for package in LAYERS:
    for path in sorted((ROOT / package).rglob('*.py')):
      yield package, path


def _imported_packages(path: pathlib.Path) -> list[tuple[int, str]]:
  """(line, top-level package of ours) for every absolute import in the file, at any depth."""
  found = []
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      if node.level:  # relative imports stay inside their package
        continue
      names = [node.module or '']
    else:
      continue
    found += [(node.lineno, name.split('.')[0]) for name in names if name.split('.')[0] in LAYERS]
  return found


def _edges():
  edges = []
  for package, path in _modules():
    for line, target in _imported_packages(path):
      if target != package:
        edges.append((package, target, f'{path.relative_to(ROOT)}:{line}'))
  return edges


def test_every_package_is_a_layer():
  packages = {p.name for p in ROOT.iterdir() if (p / '__init__.py').exists()} - {'tests', 'benchmarks'}
  assert packages == set(LAYERS), 'a new top-level package needs a place in LAYERS (and in the README\'s Layout)'


def test_imports_point_down_and_siblings_stay_apart():
  wrong = []
  for source, target, where in _edges():
    if LAYERS[target] > LAYERS[source]:
      wrong.append(f'{where}: {source} (layer {LAYERS[source]}) imports {target} (layer {LAYERS[target]}): up')
    elif LAYERS[target] == LAYERS[source]:
      wrong.append(f'{where}: {source} imports its sibling {target} (layer {LAYERS[source]})')
  assert not wrong, '\n'.join(wrong)


def test_no_cycle_between_packages():
  graph: dict[str, set[str]] = {package: set() for package in LAYERS}
  for source, target, _ in _edges():
    graph[source].add(target)
  state: dict[str, int] = {}  # 1: on the current path, 2: done

  def visit(node, path):
    state[node] = 1
    for nxt in sorted(graph[node]):
      if state.get(nxt) == 1:
        pytest.fail('import cycle: ' + ' -> '.join(path + [node, nxt]))
      if nxt not in state:
        visit(nxt, path + [node])
    state[node] = 2

  for package in sorted(graph):
    if package not in state:
      visit(package, [])


def test_the_checker_sees_lazy_imports(tmp_path):
  module = tmp_path / 'm.py'
  module.write_text('def f():\n  from trainer import embedders\n  import serving.colorizer\n')
  assert _imported_packages(module) == [(2, 'trainer'), (3, 'serving')]


# Inside trainer/ (its docstring draws them): the TFX entry on top, the loop, then input | networks (siblings),
# the objective, the scaling conventions at the bottom.
TRAINER_LAYERS = {'scaling': 0, 'objective': 1, 'input': 2, 'networks': 2, 'loop': 3,
                  'train': 4, 'task': 4, 'finish': 4, 'export': 4, 'runtime_exports': 4}


def _trainer_part(path_or_module: str) -> str | None:
  parts = path_or_module.replace('/', '.').removesuffix('.py').split('.')
  return parts[1] if len(parts) > 1 and parts[0] == 'trainer' else None


def _trainer_edges():
  for path in sorted((ROOT / 'trainer').rglob('*.py')):
    source = _trainer_part(str(path.relative_to(ROOT)))
    if source in (None, '__init__'):
      continue
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
      if isinstance(node, ast.ImportFrom) and not node.level and (node.module or '').startswith('trainer'):
        targets = [node.module] if node.module != 'trainer' else [f'trainer.{a.name}' for a in node.names]
        for target in map(_trainer_part, targets):
          if target and target != source:
            yield source, target, f'{path.relative_to(ROOT)}:{node.lineno}'


def test_every_trainer_module_is_in_a_trainer_layer():
  parts = {_trainer_part(str(p.relative_to(ROOT))) for p in (ROOT / 'trainer').glob('*')
           if p.suffix == '.py' or (p / '__init__.py').exists()} - {'__init__'}
  assert parts == set(TRAINER_LAYERS), 'a new part of trainer/ needs a place in TRAINER_LAYERS'


def test_trainer_imports_point_down_and_input_and_networks_stay_apart():
  wrong = [f'{where}: {source} (layer {TRAINER_LAYERS[source]}) imports {target} (layer {TRAINER_LAYERS[target]})'
           for source, target, where in _trainer_edges()
           if TRAINER_LAYERS[target] > TRAINER_LAYERS[source]
           or (TRAINER_LAYERS[target] == TRAINER_LAYERS[source] and TRAINER_LAYERS[source] < 4)]
  assert not wrong, '\n'.join(wrong)


def test_modules_are_small_or_say_why():
  """No module over ~300 lines unless its docstring says it reads as one story."""
  long = []
  for _, path in _modules():
    text = path.read_text()
    if text.count('\n') > 320 and 'one story' not in (ast.get_docstring(ast.parse(text)) or ''):
      long.append(f'{path.relative_to(ROOT)}: {text.count(chr(10))} lines')
  assert not long, '\n'.join(long)
