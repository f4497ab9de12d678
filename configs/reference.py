"""The configuration reference (docs/configuration.md), generated from the dataclasses of `configs.definitions`.

    python -m configs.reference > docs/configuration.md
    python -m configs.reference --write            # the same, in place
    python -m configs.reference --check            # exit 1 when docs/configuration.md differs from a fresh render

Every field of every section is listed with its dotted key, its type, its default and the description from its
class's `Attributes:` section (a field without one falls back to its trailing `# comment`). A field with neither
is an error: every key a user can set is documented.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import os
import re
import sys
import tokenize
import types
import typing
from typing import Any, Literal, Union

from configs import definitions

OUTPUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'docs', 'configuration.md')

_INTRO = """\
# Configuration reference

<!-- Generated from configs/definitions.py by `python -m configs.reference --write`; do not edit by hand.
     tests/project/test_docs.py fails when this file and a fresh render differ. -->

One typed `PipelineConfig` object is loaded once and handed to every stage of the pipeline: the dataset build, the
trainer, the evaluator's gate, the pusher, the runners and the serving tools. No stage reads YAML on its own.

- **Files.** `configs/local.yaml` is the default: the whole pipeline on one machine over the bundled
  `sample_photos/` (what `make demo` runs). `configs/gcp.yaml` is the same pipeline on Dataflow and Vertex AI
  (replace its `<PLACEHOLDERS>`). `configs/shipped_colorizer.yaml` is the recipe of the shipped colorizer
  (docs/shipped_colorizer.md). A key a file leaves out takes the default below.
- **Overrides.** Every command takes `--config=<yaml>` (local or `gs://`) and repeatable `--set key=value`; the
  value is read as YAML: `--set data.image_size=256`, `--set 'data.shards={train: 8, eval: 2, test: 2}'`,
  `--set training.warm_start_from=` (an empty string).
- **Checks.** An unknown key or a value of the wrong type fails before anything runs, naming the dotted key:
  `data.imagesize: unknown key (known keys: ...)`, `data.image_size: expected an integer, got str 'big'`.
  Constraints between fields (split ratios summing to 1, image sides that the model's encoder can downsample,
  ranges) are checked the same way (`PipelineConfig.validate`).
"""


def _type_text(hint: Any) -> str:
  """A type hint as a reader reads it: `int`, `list of float`, one of `a`, `b`."""
  origin, args = typing.get_origin(hint), typing.get_args(hint)
  if origin is Literal:
    return 'one of ' + ', '.join(f'`{a}`' for a in args)
  if origin in (Union, types.UnionType):
    return ' or '.join(_type_text(a) for a in args if a is not type(None)) + ' or null'
  if origin is list:
    return f'list of {_type_text(args[0])}'
  if origin is tuple:
    return '[' + ', '.join(_type_text(a) for a in args) + ']'
  if origin is dict:
    return f'mapping {_type_text(args[0])} -> {_type_text(args[1])}'
  if dataclasses.is_dataclass(hint):
    return hint.__name__
  return getattr(hint, '__name__', str(hint))


def _value_text(value: Any) -> str:
  """A default as it is written in YAML (flow style)."""
  if isinstance(value, bool):
    return 'true' if value else 'false'
  if isinstance(value, str):
    return "''" if not value else value
  if isinstance(value, (list, tuple)):
    return '[' + ', '.join(_value_text(v) for v in value) + ']'
  if isinstance(value, dict):
    return '{' + ', '.join(f'{k}: {_value_text(v)}' for k, v in value.items()) + '}'
  return repr(value)


def _default(field: dataclasses.Field) -> Any:
  if field.default is not dataclasses.MISSING:
    return field.default
  if field.default_factory is not dataclasses.MISSING:
    return field.default_factory()
  return None


def _docstring_parts(cls: type) -> tuple[str, dict[str, str]]:
  """(the summary before `Attributes:`, {field: description}) of a dataclass's docstring."""
  doc = inspect.getdoc(cls) or ''
  summary, _, attributes = doc.partition('\nAttributes:\n')
  described: dict[str, str] = {}
  current = None
  for line in attributes.splitlines():
    match = re.match(r'^  (\w+): (.*)$', line)
    if match:
      current = match.group(1)
      described[current] = match.group(2).strip()
    elif current and line.strip():
      described[current] += ' ' + line.strip()
  return ' '.join(summary.split()), described


def _trailing_comments(cls: type) -> dict[str, str]:
  """{field: its trailing `# comment`} from the class's source."""
  comments: dict[str, str] = {}
  try:
    source = inspect.getsource(cls)
  except (OSError, TypeError):
    return comments
  last_name = None
  for token in tokenize.generate_tokens(io.StringIO(source).readline):
    if token.type == tokenize.NAME and token.start[1] == 2:
      last_name = token.string
    elif token.type == tokenize.COMMENT and last_name and token.start[0] == token.end[0]:
      comments.setdefault(last_name, token.string.lstrip('# ').strip())
    elif token.type == tokenize.NEWLINE:
      last_name = None
  return comments


def _cell(text: str) -> str:
  return text.replace('|', '\\|')


def _sections(cls: type, prefix: str) -> list[tuple[str, type]]:
  """(dotted prefix, dataclass) of `cls` and of every nested dataclass field, depth first."""
  found = [(prefix, cls)]
  hints = typing.get_type_hints(cls)
  for field in dataclasses.fields(cls):
    if dataclasses.is_dataclass(hints[field.name]):
      found += _sections(hints[field.name], f'{prefix}.{field.name}' if prefix else field.name)
  return found


def render() -> str:
  """The whole of docs/configuration.md."""
  out = io.StringIO()
  out.write(_INTRO)
  root = definitions.PipelineConfig
  for prefix, cls in _sections(root, ''):
    if not prefix:
      continue
    summary, described = _docstring_parts(cls)
    comments = _trailing_comments(cls)
    hints = typing.get_type_hints(cls)
    out.write(f'\n## `{prefix}`\n\n{summary}\n\n| key | type | default | what it does |\n|---|---|---|---|\n')
    for field in dataclasses.fields(cls):
      key = f'{prefix}.{field.name}'
      hint = hints[field.name]
      if dataclasses.is_dataclass(hint):
        text = described.get(field.name) or f'{hint.__name__}.'
        out.write(f'| `{key}` | section | | {_cell(text)} See [`{key}`](#{key.replace(".", "")}). |\n')
        continue
      text = described.get(field.name) or comments.get(field.name)
      if not text:
        raise ValueError(f'{cls.__name__}.{field.name}: no description (add it to the `Attributes:` section)')
      out.write(f'| `{key}` | {_cell(_type_text(hint))} | `{_cell(_value_text(_default(field)))}` | '
                f'{_cell(text)} |\n')
  return out.getvalue()


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--write', action='store_true', help=f'Write {os.path.relpath(OUTPUT)} instead of printing.')
  parser.add_argument('--check', action='store_true', help='Exit 1 when the file differs from a fresh render.')
  args = parser.parse_args(argv)
  text = render()
  if args.check:
    with open(OUTPUT, encoding='utf-8') as f:
      same = f.read() == text
    print('docs/configuration.md is up to date' if same else
          'docs/configuration.md differs from configs/definitions.py: run python -m configs.reference --write')
    return 0 if same else 1
  if args.write:
    os.makedirs(os.path.dirname(OUTPUT), exist_ok=True)
    with open(OUTPUT, 'w', encoding='utf-8') as f:
      f.write(text)
    return 0
  sys.stdout.write(text)
  return 0


if __name__ == '__main__':
  sys.exit(main())
