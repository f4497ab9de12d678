"""absl flags shared by every entry point: `--config=<yaml>` plus repeatable `--set key=value` overrides.

    python -m pipeline.build_dataset --config=configs/gcp.yaml --set data.image_size=128 --set data.shards.train=8
"""

from __future__ import annotations

from absl import flags

from configs import definitions
from configs import loading

CONFIG_PATH = flags.DEFINE_string(
    'config', None, 'YAML config file (local or gs://). Default: the embedded configs/local.yaml.')
OVERRIDES = flags.DEFINE_multi_string(
    'set', [], 'Override one config key, e.g. --set data.image_size=128 (value parsed as YAML). Repeatable.')


def config_from_flags(defaults: list[str] | None = None) -> definitions.PipelineConfig:
  """The config named by --config with every --set applied (call after absl has parsed argv); `defaults`
  (key=value, e.g. a command's own settings) go first, so a --set of the same key wins."""
  return loading.load_config(CONFIG_PATH.value, list(defaults or []) + OVERRIDES.value)
