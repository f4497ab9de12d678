"""Training speed levers for the shipped recipe's model, side by side in one run on this machine.

    .venv/bin/python -m benchmarks.bench_training_speed --photos=sample_photos --steps=60

Part 1, whole training steps (the real trainer, `trainer.train.train`, on records built from --photos): the
shipped recipe's model (`unet`, class-rebalanced `l1_chroma`, batch 16) in float32 as the reference, then one lever
at a time: synthetic input (what the input pipeline costs), mixed bfloat16, and smaller images (progressive
resizing trains its first part at a smaller size), and bfloat16 for the decoder's dense convolutions only
(`training.precision=bfloat16_decoder`). Each row times `--steps` steps after 2 tracing steps, in the
frozen-encoder phase and the full phase.

Part 2, why bfloat16 and XLA do not pay on this CPU: forward + backward time of each kind of layer of the network
at its real shapes (depthwise 3x3, pointwise 1x1, the decoder's 3x3 convolutions, batch norm), float32 against
bfloat16, and the whole network's gradient step with and without XLA (`jit_compile`).

Writes benchmarks/results/training_speed.json.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from typing import Any, Callable, Sequence

from absl import app
from absl import flags

import benchmarks

FLAGS = flags.FLAGS
flags.DEFINE_string('photos', 'sample_photos', 'Photos to build the benchmark dataset from.')
flags.DEFINE_integer('size', 128, 'The recipe\'s image size.')
flags.DEFINE_list('small_sizes', ['96', '64'], 'Smaller sizes for progressive resizing rows.')
flags.DEFINE_integer('steps', 60, 'Timed training steps per row (after 2 tracing steps).')
flags.DEFINE_integer('batch', 16, 'Batch size (the recipe\'s).')
flags.DEFINE_integer('op_repeats', 20, 'Timed repeats per layer in part 2.')
flags.DEFINE_string('output', 'benchmarks/results/training_speed.json', 'Where the JSON results go.')

RECIPE = ['model.network.variant=unet', 'model.loss.kind=l1_chroma', 'model.loss.regression_rebalancing=0.5',
          'training.sampling.online_augmentation=true', 'training.checkpoint_every_steps=100000']


def _train_row(version: str, work: str, name: str, phase: str, overrides: Sequence[str]) -> dict[str, Any]:
  import configs  # pylint: disable=g-import-not-at-top
  from trainer import train as train_lib  # pylint: disable=g-import-not-at-top
  config = configs.load_config(overrides=[
      *benchmarks.from_imagenet_overrides(), *RECIPE, f'training.batch_size_per_replica={FLAGS.batch}',
      # The validated range is [0, 1): 0.999 keeps every timed step of a --steps run in the frozen phase.
      f'training.schedule.frozen_encoder_fraction={0.999 if phase == "frozen" else 0.0}', 'training.schedule.warmup_fraction=0',
      *overrides])
  out = tempfile.mkdtemp(dir=work)
  try:
    result = train_lib.train(config, version, out, max_steps=FLAGS.steps + 2, export=False)
  finally:
    shutil.rmtree(out, ignore_errors=True)
  row = {'setting': name, 'phase': phase, 'examples_per_s': result.examples_per_second}
  print('row:', json.dumps(row), flush=True)
  return row


def _time(fn: Callable[[], Any], repeats: int) -> float:
  """Median seconds of fn() after two warm-up calls."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  fn(), fn()
  seconds = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    seconds.append(time.perf_counter() - start)
  return float(np.median(seconds))


def _layer_rows(batch: int, repeats: int) -> list[dict[str, Any]]:
  """Forward + backward ms per kind of layer, float32 against bfloat16, at shapes of the 128 px unet."""
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  cases = [
      ('depthwise 3x3', (64, 64, 96), lambda: keras.layers.DepthwiseConv2D(3, padding='same', use_bias=False)),
      ('depthwise 5x5', (16, 16, 240), lambda: keras.layers.DepthwiseConv2D(5, padding='same', use_bias=False)),
      ('pointwise 1x1', (32, 32, 144), lambda: keras.layers.Conv2D(24, 1, use_bias=False)),
      ('decoder conv 3x3', (64, 64, 64), lambda: keras.layers.Conv2D(48, 3, padding='same')),
      ('batch norm', (64, 64, 96), lambda: keras.layers.BatchNormalization()),
  ]
  rows = []
  for name, shape, make in cases:
    row = {'layer': name, 'input': [batch, *shape]}
    for dtype in ('float32', 'bfloat16'):
      layer = _layer_under(make, [batch, *shape], 'mixed_bfloat16' if dtype == 'bfloat16' else 'float32')
      x = tf.random.normal([batch, *shape], dtype=dtype)

      @tf.function
      def step(x=x, layer=layer):
        with tf.GradientTape() as tape:
          tape.watch(x)
          y = layer(x, training=True)
          loss = tf.reduce_mean(tf.cast(y, tf.float32))
        return tape.gradient(loss, [x] + layer.trainable_weights)

      row[f'{dtype}_ms'] = 1000 * _time(step, repeats)
    row['bf16_over_f32'] = row['bfloat16_ms'] / row['float32_ms']
    print('layer:', json.dumps(row), flush=True)
    rows.append(row)
  return rows


def _layer_under(make, shape, policy: str):
  """The layer built under a Keras precision policy (mixed_bfloat16: float32 variables, bfloat16 compute)."""
  import keras  # pylint: disable=g-import-not-at-top
  previous = keras.mixed_precision.global_policy()
  keras.mixed_precision.set_global_policy(policy)
  try:
    layer = make()
    layer.build(shape)
  finally:
    keras.mixed_precision.set_global_policy(previous)
  return layer


def _xla_rows(batch: int, size: int, repeats: int) -> list[dict[str, Any]]:
  """The whole unet's gradient step (float32), traced by tf.function with and without XLA."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import configs  # pylint: disable=g-import-not-at-top
  from trainer.networks import builder as networks  # pylint: disable=g-import-not-at-top
  config = configs.load_config(overrides=[*benchmarks.from_imagenet_overrides(), *RECIPE])
  net = networks.build_network(config.model, 0, regression_head=True)
  l = tf.random.uniform([batch, size, size, 1], 0, 100)
  variables = net.colorizer.trainable_variables
  rows = []
  for jit in (False, True):
    @tf.function(jit_compile=jit)
    def step():
      with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.abs(tf.cast(net.colorizer({'l': l}, training=True), tf.float32)))
      return tape.gradient(loss, variables)
    seconds = _time(step, max(3, repeats // 4))
    rows.append({'xla': jit, 'ms_per_step': 1000 * seconds, 'examples_per_s': batch / seconds})
    print('xla:', json.dumps(rows[-1]), flush=True)
  return rows


def main(argv: Sequence[str]) -> None:
  del argv
  import configs  # pylint: disable=g-import-not-at-top
  from pipeline import build_dataset  # pylint: disable=g-import-not-at-top
  work = tempfile.mkdtemp(prefix='bench_training_speed_')
  rows = []
  try:
    versions = {}
    for size in [FLAGS.size, *map(int, FLAGS.small_sizes)]:
      versions[size] = build_dataset.run_build(configs.load_config(overrides=[
          f'data.input_uri={FLAGS.photos}', f'data.output_dir={work}/ds{size}', f'data.image_size={size}',
          'data.split_ratios={train: 1.0}', 'data.shards={train: 1}', 'data.photo_pool=thread'])).version_dir
    settings = [('float32 (reference)', FLAGS.size, []),
                ('synthetic input', FLAGS.size, ['training.synthetic_input=true']),
                ('mixed bfloat16', FLAGS.size, ['training.precision=mixed_bfloat16']),
                ('bfloat16 decoder', FLAGS.size, ['training.precision=bfloat16_decoder'])]
    settings += [(f'{size} px', size, []) for size in map(int, FLAGS.small_sizes)]
    settings += [(f'bfloat16 decoder, {size} px', size, ['training.precision=bfloat16_decoder'])
                 for size in [int(s) for s in FLAGS.small_sizes][:1]]
    for phase in ('frozen', 'full'):
      for name, size, overrides in settings:
        rows.append(_train_row(versions[size], work, name, phase, overrides))
  finally:
    shutil.rmtree(work, ignore_errors=True)
  layers = _layer_rows(FLAGS.batch, FLAGS.op_repeats)
  xla = _xla_rows(FLAGS.batch, FLAGS.size, FLAGS.op_repeats)
  reference = {r['phase']: r['examples_per_s'] for r in rows if r['setting'] == 'float32 (reference)'}
  for row in rows:
    row['speedup'] = row['examples_per_s'] / reference[row['phase']]
  benchmarks.write_results(FLAGS.output, {
      'cpus': os.cpu_count(), 'size': FLAGS.size, 'batch': FLAGS.batch, 'steps': FLAGS.steps, 'photos':
      os.path.basename(os.path.normpath(FLAGS.photos)), 'training_steps': rows, 'layers': layers, 'xla': xla})
  print(f'\n=== Summary ({os.cpu_count()} cores, batch {FLAGS.batch}, {FLAGS.steps} timed steps per row) ===')
  print(f'{"setting":22s} {"phase":7s} {"examples/s":>10s} {"x ref":>6s}')
  for row in rows:
    print(f'{row["setting"]:22s} {row["phase"]:7s} {row["examples_per_s"]:10.1f} {row["speedup"]:6.2f}')
  print(f'\n{"layer (fwd+bwd)":18s} {"f32 ms":>8s} {"bf16 ms":>8s} {"bf16/f32":>8s}')
  for row in layers:
    print(f'{row["layer"]:18s} {row["float32_ms"]:8.2f} {row["bfloat16_ms"]:8.2f} {row["bf16_over_f32"]:8.2f}')
  for row in xla:
    print(f'whole unet step, XLA {"on " if row["xla"] else "off"}: {row["ms_per_step"]:.0f} ms '
          f'({row["examples_per_s"]:.1f} examples/s)')
  print(f'results: {FLAGS.output}')


if __name__ == '__main__':
  app.run(main)
