"""Builds a `PipelineConfig` from YAML and `key=value` overrides, with strict checking.

Every key is checked against the dataclasses in `configs.definitions`: an unknown key or a value of the wrong type
raises `ConfigError` naming the dotted key (for example `data.image_size`), never a silent default; a key that
moved (`configs.renames`) names its new place.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import types
import typing
from typing import Any, Iterable, Literal, Mapping, Union

import yaml

from configs import definitions
from configs import renames
from configs.base import ConfigError

# A float in exponent form without a dot (`1e-4`), which YAML 1.1 (PyYAML) leaves as a string.
_EXPONENT_FLOAT = re.compile(r'^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$')

CONFIG_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIG_PATH = os.path.join(CONFIG_DIR, 'local.yaml')


def _coerce(value: Any, hint: Any, key: str) -> Any:
  """Returns `value` checked against the type `hint`; raises ConfigError naming `key`."""
  origin = typing.get_origin(hint)
  args = typing.get_args(hint)
  if dataclasses.is_dataclass(hint):
    if not isinstance(value, Mapping):
      if key in renames.RENAMED_KEYS:  # `model.loss: l1_chroma`, where `loss` is now a section
        raise ConfigError(f'{key}: renamed, use {renames.RENAMED_KEYS[key]}')
      raise ConfigError(f'{key}: expected a mapping of {hint.__name__} fields, got {type(value).__name__}')
    return _build(hint, value, key)
  if origin is Literal:
    if isinstance(value, bool) and ('on' if value else 'off') in args:
      value = 'on' if value else 'off'  # YAML 1.1 reads a bare `off` as false
    if value not in args:
      raise ConfigError(f'{key}: expected one of {list(args)}, got {value!r}')
    return value
  if origin in (Union, types.UnionType):
    if value is None and type(None) in args:
      return None
    errors = []
    for arg in args:
      if arg is type(None):
        continue
      try:
        return _coerce(value, arg, key)
      except ConfigError as e:
        errors.append(str(e))
    raise ConfigError('; '.join(errors))
  if origin is list:
    if not isinstance(value, (list, tuple)):
      raise ConfigError(f'{key}: expected a list, got {type(value).__name__} {value!r}')
    return [_coerce(v, args[0], f'{key}[{i}]') for i, v in enumerate(value)]
  if origin is tuple:
    if not isinstance(value, (list, tuple)) or len(value) != len(args):
      raise ConfigError(f'{key}: expected a list of {len(args)} values, got {value!r}')
    return tuple(_coerce(v, a, f'{key}[{i}]') for i, (v, a) in enumerate(zip(value, args)))
  if origin is dict:
    if not isinstance(value, Mapping):
      raise ConfigError(f'{key}: expected a mapping, got {type(value).__name__} {value!r}')
    return {_coerce(k, args[0], f'{key}'): _coerce(v, args[1], f'{key}.{k}') for k, v in value.items()}
  if hint is bool:
    if not isinstance(value, bool):
      raise ConfigError(f'{key}: expected true or false, got {type(value).__name__} {value!r}')
    return value
  if hint is int:
    if isinstance(value, bool) or not isinstance(value, int):
      raise ConfigError(f'{key}: expected an integer, got {type(value).__name__} {value!r}')
    return value
  if hint is float:
    if isinstance(value, str) and _EXPONENT_FLOAT.match(value):
      return float(value)  # `1e-4`: YAML 1.1 reads a float without a dot as a string
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise ConfigError(f'{key}: expected a number, got {type(value).__name__} {value!r}')
    return float(value)
  if hint is str:
    if not isinstance(value, str):
      raise ConfigError(f'{key}: expected a string, got {type(value).__name__} {value!r}')
    return value
  raise TypeError(f'{key}: unsupported config type {hint!r}')


def _build(cls: type, values: Mapping[str, Any], prefix: str = '') -> Any:
  """Instantiates dataclass `cls` from `values`, checking every key and type."""
  hints = typing.get_type_hints(cls)
  fields = {f.name for f in dataclasses.fields(cls)}
  kwargs = {}
  for name, value in values.items():
    key = f'{prefix}.{name}' if prefix else str(name)
    if name not in fields:
      if key in renames.RENAMED_KEYS:
        raise ConfigError(f'{key}: renamed, use {renames.RENAMED_KEYS[key]}')
      raise ConfigError(f'{key}: unknown key (known keys: {", ".join(sorted(fields))})')
    kwargs[name] = _coerce(value, hints[name], key)
  return cls(**kwargs)


def _set_dotted(tree: dict[str, Any], dotted_key: str, value: Any) -> None:
  parts = dotted_key.split('.')
  node = tree
  for i, part in enumerate(parts[:-1]):
    child = node.setdefault(part, {})
    if not isinstance(child, dict):
      raise ConfigError(f'{".".join(parts[:i + 1])}: is a value, cannot set {dotted_key}')
    node = child
  node[parts[-1]] = value


def parse_override(override: str) -> tuple[str, Any]:
  """Splits `a.b=value`; the value is read as YAML (`128`, `true`, `[1, 2]`, `gs://x`)."""
  if '=' not in override:
    raise ConfigError(f'override {override!r}: expected key=value, for example data.image_size=128')
  key, raw = override.split('=', 1)
  key = key.strip()
  try:
    value = yaml.safe_load(raw) if raw.strip() else ''
  except yaml.YAMLError as e:
    raise ConfigError(f'{key}: cannot parse value {raw!r}: {e}') from e
  return key, value


def read_yaml(path: str) -> dict[str, Any]:
  """Reads a YAML config file (local or any filesystem TensorFlow's gfile knows) into a dict."""
  if path.startswith('gs://'):
    # Lazy: tf.io.gfile only for remote config URIs; reading a local YAML needs no TensorFlow.
    from tensorflow.io import gfile  # pylint: disable=g-import-not-at-top
    with gfile.GFile(path) as f:
      text = f.read()
  else:
    with open(path, encoding='utf-8') as f:
      text = f.read()
  try:
    tree = yaml.safe_load(text) or {}
  except yaml.YAMLError as e:
    raise ConfigError(f'{path}: not valid YAML: {e}') from e
  if not isinstance(tree, dict):
    raise ConfigError(f'{path}: the top level must be a mapping of sections, got {type(tree).__name__}')
  return tree


def config_from_dict(tree: Mapping[str, Any], overrides: Iterable[str] = (),
                     sections: Iterable[str] | None = None) -> definitions.PipelineConfig:
  """Builds and validates a PipelineConfig from a nested dict plus `key=value` overrides.

  `sections`: the tree holds only these sections (a component's slice); the others take their defaults and only
  the constraints among the given sections are checked.
  """
  tree = yaml.safe_load(yaml.safe_dump(dict(tree), sort_keys=False))  # Deep copy of plain data.
  for override in overrides:
    key, value = parse_override(override)
    _set_dotted(tree, key, value)
  config = _build(definitions.PipelineConfig, tree)
  config.validate(None if sections is None else frozenset(sections))
  return config


def slice_dict(config: definitions.PipelineConfig, *sections: str) -> dict[str, Any]:
  """Only `sections` of the config as plain data: what one component gets, so its cache key follows only them."""
  unknown = set(sections) - {f.name for f in dataclasses.fields(definitions.PipelineConfig)}
  if unknown:
    raise ConfigError(f'unknown config sections {sorted(unknown)}')
  tree = to_dict(config)
  return {name: tree[name] for name in sections}


def slice_json(config: definitions.PipelineConfig, *sections: str) -> str:
  """`slice_dict` as canonical JSON (sorted keys): equal slices give byte-identical execution properties."""
  return json.dumps(slice_dict(config, *sections), sort_keys=True)


def config_from_slice(tree: Mapping[str, Any] | str) -> definitions.PipelineConfig:
  """The PipelineConfig of a slice (`slice_dict`/`slice_json`): its sections set, the others defaults."""
  if isinstance(tree, str):
    tree = json.loads(tree)
  return config_from_dict(tree, sections=list(tree))


def load_config(path: str | None = None, overrides: Iterable[str] = ()) -> definitions.PipelineConfig:
  """Loads the YAML file at `path` (default: the embedded `configs/local.yaml`) and applies `overrides`."""
  path = path or DEFAULT_CONFIG_PATH
  try:
    return config_from_dict(read_yaml(path), overrides)
  except ConfigError as e:
    raise ConfigError(f'{path}: {e}') from None


def to_dict(config: definitions.PipelineConfig) -> dict[str, Any]:
  """Plain-data form of a config (JSON/YAML serializable), e.g. for manifests and pipeline parameters."""
  def plain(value):
    if isinstance(value, tuple):
      return [plain(v) for v in value]
    if isinstance(value, list):
      return [plain(v) for v in value]
    if isinstance(value, dict):
      return {k: plain(v) for k, v in value.items()}
    return value
  return plain(dataclasses.asdict(config))
