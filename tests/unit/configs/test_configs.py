"""Config loading: defaults, YAML files, command-line overrides, unknown keys and wrong types."""

import os
import subprocess
import sys
import textwrap

import pytest

import configs

from tests.conftest import REPO


def test_dataclass_defaults_are_valid():
  config = configs.PipelineConfig()
  config.validate()
  assert config.data.split_ratios == {'train': 0.8, 'eval': 0.1, 'test': 0.1}


def test_embedded_local_yaml_is_the_default():
  config = configs.load_config()
  assert config.runner.kind == 'local'
  assert config.data.input_uri == 'sample_photos'
  assert config.data.image_size == 128  # local.yaml's value, not the dataclass default (256)
  assert config.data.augmentation.zoom_range == (0.8, 1.0)


def test_gcp_yaml_describes_the_same_pipeline_for_the_cloud():
  config = configs.load_config(os.path.join(REPO, 'configs', 'gcp.yaml'))
  assert config.runner.kind == 'vertex'
  assert config.runner.beam_runner == 'DataflowRunner'
  assert config.data.input_uri.startswith('gs://')
  assert config.training.precision == 'auto'
  # the 30-minute benchmark's winner
  assert (config.model.network.variant, config.model.loss.kind, config.model.loss.regression_rebalancing) == ('unet', 'l1_chroma', 0.5)
  # Keys the file leaves out keep their dataclass defaults.
  assert config.data.grayscale_chroma_threshold == 5.0


def test_yaml_values_and_overrides(tmp_path):
  path = tmp_path / 'c.yaml'
  path.write_text(textwrap.dedent("""
      data:
        image_size: 64
        shards: {train: 3, eval: 1, test: 1}
      training:
        optimizer:
          learning_rate: 1   # an int where a float is expected is fine
  """))
  config = configs.load_config(str(path), ['data.image_size=96', 'data.augmentation.copies=2',
                                           'runner.beam_args=[--a=1, --b=2]', 'model.network.variant=beta'])
  assert config.data.image_size == 96
  assert config.data.shards['train'] == 3
  assert config.data.augmentation.copies == 2
  assert config.training.optimizer.learning_rate == 1.0 and isinstance(config.training.optimizer.learning_rate, float)
  assert config.runner.beam_args == ['--a=1', '--b=2']
  assert config.model.network.variant == 'beta'
  # `1e-4` (no dot) is a string to YAML 1.1; a float setting takes it as the number it means.
  assert configs.load_config(overrides=['training.optimizer.learning_rate=1e-4']).training.optimizer.learning_rate == 1e-4
  with pytest.raises(configs.ConfigError, match='training.optimizer.learning_rate: expected a number'):
    configs.load_config(overrides=['training.optimizer.learning_rate=fast'])


@pytest.mark.parametrize('override, message', [
    ('data.imagesize=3', 'data.imagesize: unknown key'),
    ('nonsense.x=1', 'nonsense: unknown key'),
    ('data.image_size=big', 'data.image_size: expected an integer'),
    ('data.image_size=1.5', 'data.image_size: expected an integer'),
    ('data.drop_duplicates=1', 'data.drop_duplicates: expected true or false'),
    ('model.network.variant=gamma', "model.network.variant: expected one of ['unet', 'fusion', 'beta']"),
    ('data.image_size=80', 'data.image_size: must be a multiple of 32 for model.network.variant=unet'),
    ('model.network.decoder_filters=[64, 32]', 'model.network.decoder_filters: needs 4 values'),
    ('training.schedule.frozen_encoder_fraction=1.0', r'training.schedule.frozen_encoder_fraction: must be in \[0, 1\)'),
    ('data.augmentation.zoom_range=[0.5]', 'data.augmentation.zoom_range: expected a list of 2'),
    ('model.network.encoder_filters=[64, x]', 'model.network.encoder_filters[1]: expected an integer'),
    ('data.split_ratios.train=0.5', 'data.split_ratios: ratios must be >= 0 and sum to 1'),
    ('data.shards.train=0', 'data.shards.train: must be >= 1'),
    ('evaluation.split=train', 'evaluation.split: the gate cannot score the training split'),
    ('data.image_size', 'expected key=value'),
])
def test_bad_keys_and_types_name_the_key(override, message):
  pattern = message if '\\[' in message else message.replace('[', r'\[').replace(']', r'\]')
  with pytest.raises(configs.ConfigError, match=pattern):
    configs.load_config(overrides=[override])


@pytest.mark.parametrize('override, new_key', [
    ('model.variant=beta', 'model.network.variant'),
    ('model.loss=mse', 'model.loss.kind'),
    ('model.flip_averaging=true', 'model.decoding.flip_averaging'),
    ('model.annealed_mean_temperature=0.4', 'model.decoding.temperature'),
    ('training.learning_rate=0.1', 'training.optimizer.learning_rate'),
    ('training.weight_averaging_fraction=0.3', 'training.averaging.fraction'),
    ('training.hue_repeat_threshold=0.1', 'training.sampling.hue_repeat_threshold'),
])
def test_a_renamed_key_fails_with_its_new_name(override, new_key):
  with pytest.raises(configs.ConfigError, match=rf'{override.split("=")[0]}: renamed, use {new_key}'):
    configs.load_config(overrides=[override])


def test_every_renamed_key_points_at_a_key_that_exists():
  from configs import renames  # pylint: disable=g-import-not-at-top
  tree = configs.to_dict(configs.load_config())
  for old, new in renames.RENAMED_KEYS.items():
    node = tree
    for part in new.split()[0].split('.'):
      assert part in node, (old, new)
      node = node[part]
    old_section, _, old_leaf = old.rpartition('.')
    node = tree
    for part in old_section.split('.'):
      node = node[part]
    assert old_leaf not in node or isinstance(node[old_leaf], dict), old  # the old key is gone (or a section now)


def test_bad_yaml_file_names_the_file(tmp_path):
  path = tmp_path / 'bad.yaml'
  path.write_text('data:\n  image_size: 64\n  colour: blue\n')
  with pytest.raises(configs.ConfigError, match=r'bad\.yaml: data\.colour: unknown key'):
    configs.load_config(str(path))
  path.write_text('- just\n- a list\n')
  with pytest.raises(configs.ConfigError, match='top level must be a mapping'):
    configs.load_config(str(path))


def test_to_dict_round_trips():
  config = configs.load_config(overrides=['data.seed=7'])
  assert configs.config_from_dict(configs.to_dict(config)) == config


def test_absl_flags_in_a_real_entry_point():
  """--config and repeated --set flags reach the config through absl, and errors exit non-zero."""
  script = textwrap.dedent("""
      from absl import app
      from configs import flags as config_flags
      def main(argv):
        c = config_flags.config_from_flags()
        print(c.data.image_size, c.data.shards['train'], c.runner.kind)
      app.run(main)
  """)
  gcp = os.path.join(REPO, 'configs', 'gcp.yaml')
  out = subprocess.run([sys.executable, '-c', script, f'--config={gcp}', '--set', 'data.image_size=128',
                        '--set=data.shards.train=8'], capture_output=True, text=True, cwd=REPO, check=True)
  assert out.stdout.split() == ['128', '8', 'vertex']
  bad = subprocess.run([sys.executable, '-c', script, '--set', 'data.image_size=huge'],
                       capture_output=True, text=True, cwd=REPO)
  assert bad.returncode != 0
  assert 'data.image_size: expected an integer' in bad.stderr
