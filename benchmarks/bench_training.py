"""Training throughput of the colorizer next to this machine's own ceiling, measured in the same run.

    .venv/bin/python -m benchmarks.bench_training --photos=sample_photos --steps=20

Reports, for `beta` and `fusion` (in-graph EfficientNet-Lite0 embedding) at 128 and 256 px: training examples/s
with real records and with synthetic input (the input pipeline's cost), the model's FLOPs per example (convolutions,
forward x 3 for training), the achieved GFLOP/s as a fraction of the ceiling (a 4096^2 float32 matmul and a
representative 3x3 convolution in TensorFlow), and the epoch time with precomputed vs in-graph embeddings.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from typing import Any, Sequence

from absl import app
from absl import flags

import benchmarks

FLAGS = flags.FLAGS
flags.DEFINE_string('photos', 'sample_photos', 'Photos to build the benchmark datasets from.')
flags.DEFINE_list('sizes', ['128', '256'], 'Image sizes.')
flags.DEFINE_list('variants', ['beta', 'fusion'], 'Model variants.')
flags.DEFINE_integer('steps', 20, 'Timed training steps per configuration (after 2 tracing steps).')
flags.DEFINE_integer('batch', 16, 'Batch size.')
flags.DEFINE_integer('repeats', 3, 'Alternating synthetic/records runs at the smallest size (medians reported): '
                     'a 20-step run varies by ~10% here, more than the input cost being measured.')
flags.DEFINE_string('output', 'benchmarks/results/training.json', 'Where the JSON results go.')


def ceiling() -> dict[str, float]:
  """GFLOP/s of a large float32 matmul and of a 3x3 conv (forward, and forward + filter gradient)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  a = tf.random.normal([4096, 4096])
  matmul = tf.function(lambda x: tf.matmul(x, x))
  matmul(a).numpy()
  start = time.perf_counter()
  for _ in range(5):
    out = matmul(a)
  out.numpy()
  matmul_gflops = 5 * 2 * 4096 ** 3 / (time.perf_counter() - start) / 1e9
  x = tf.random.normal([16, 64, 64, 64])
  w = tf.Variable(tf.random.normal([3, 3, 64, 64]))
  conv = tf.function(lambda x: tf.nn.conv2d(x, w, 1, 'SAME'))

  @tf.function
  def conv_grad(x):
    with tf.GradientTape() as tape:
      y = tf.reduce_sum(tf.nn.conv2d(x, w, 1, 'SAME'))
    return tape.gradient(y, w)

  flops = 2 * 16 * 64 * 64 * 64 * 64 * 9
  results = {'matmul_4096_gflops': matmul_gflops}
  for name, fn, multiple in (('conv3x3_forward_gflops', conv, 1), ('conv3x3_forward_and_filter_grad_gflops',
                                                                    conv_grad, 2)):
    fn(x).numpy()
    start = time.perf_counter()
    for _ in range(20):
      out = fn(x)
    out.numpy()
    results[name] = 20 * multiple * flops / (time.perf_counter() - start) / 1e9
  return results


def model_flops(model, inputs) -> float:
  """Forward FLOPs for one example, from TensorFlow's graph profiler (convs, matmuls, ...)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.python.profiler import model_analyzer  # pylint: disable=g-direct-tensorflow-import
  from tensorflow.python.profiler import option_builder  # pylint: disable=g-direct-tensorflow-import
  concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(inputs)
  graph_info = model_analyzer.profile(concrete.graph, options=option_builder.ProfileOptionBuilder.float_operation())
  return float(graph_info.total_float_ops)


def build_dataset(photos: str, size: int, out: str, precompute: bool) -> str:
  import configs  # pylint: disable=g-import-not-at-top
  from pipeline import build_dataset as build  # pylint: disable=g-import-not-at-top
  config = configs.load_config(overrides=[
      f'data.input_uri={photos}', f'data.output_dir={out}', f'data.image_size={size}', 'data.augmentation.copies=0',
      'data.split_ratios={train: 0.9, eval: 0.1, test: 0.0}', 'data.shards={train: 2, eval: 1, test: 1}',
      f'data.precompute_embeddings={"true" if precompute else "false"}'])
  return build.run_build(config).version_dir


def measure(dataset: str, variant: str, size: int, batch: int, steps: int, synthetic: bool, work: str) -> dict:
  import configs  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from trainer.networks import fusion  # pylint: disable=g-import-not-at-top
  from trainer import train as train_lib  # pylint: disable=g-import-not-at-top
  config = configs.load_config(overrides=[
      *benchmarks.from_imagenet_overrides(), f'model.network.variant={variant}', 'model.loss.kind=mse',
      f'training.batch_size_per_replica={batch}',
      'training.checkpoint_every_steps=100000', 'training.schedule.decay=constant', 'training.schedule.warmup_fraction=0',
      f'training.synthetic_input={"true" if synthetic else "false"}'])
  out = tempfile.mkdtemp(dir=work)
  result = train_lib.train(config, dataset, out, max_steps=steps + 2, export=False)
  colorizer = fusion.build_colorizer(config.model, 1280 if variant == 'fusion' else 0)
  inputs = {'l': tf.TensorSpec([1, size, size, 1])}
  if variant == 'fusion':
    inputs['embedding'] = tf.TensorSpec([1, 1280])
  flops = model_flops(colorizer, inputs)
  embedder_flops = 0.0
  if variant == 'fusion':
    from trainer.networks import embedders  # pylint: disable=g-import-not-at-top
    embedder = embedders.load_embedder(config.model)
    embedder_flops = model_flops(embedder.model, tf.TensorSpec([1, 224, 224, 3]))
  shutil.rmtree(out, ignore_errors=True)
  train_flops = 3 * flops + embedder_flops  # forward + backward (~2x forward) of the colorizer, embedder forward
  return {'variant': variant, 'size': size, 'batch': batch, 'synthetic': synthetic,
          'examples_per_s': result.examples_per_second, 'colorizer_gflops_per_example': flops / 1e9,
          'embedder_gflops_per_example': embedder_flops / 1e9,
          'achieved_gflops': result.examples_per_second * train_flops / 1e9}


def input_cost(dataset: str, batch: int, batches: int = 150) -> dict[str, float]:
  """CPU cost of the trainer's input pipeline alone (read, gunzip, parse, decode, augment, batch) on one thread.

  On a CPU-only machine the input pipeline and the training step share the cores, so its cost at a training rate
  of R examples/s is R x (ms per example) / (1000 x cores) of the machine: a direct measurement of what an
  A/B of short training runs cannot resolve below their noise.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from trainer.input import data as data_lib  # pylint: disable=g-import-not-at-top
  info = data_lib.dataset_info(dataset)
  ds = data_lib.make_dataset(info.files['train'], info.image_size, batch, training=True, repeat=True, augment=True)
  options = tf.data.Options()
  options.threading.private_threadpool_size = 1
  options.threading.max_intra_op_parallelism = 1
  batches_iter = iter(ds.with_options(options))
  for _ in range(5):
    next(batches_iter)
  start = time.perf_counter()
  for _ in range(batches):
    next(batches_iter)
  seconds = time.perf_counter() - start
  return {'ms_per_example_one_thread': 1000.0 * seconds / (batches * batch),
          'examples_per_s_one_thread': batches * batch / seconds}


def _median(values: list[float]) -> float:
  return sorted(values)[len(values) // 2]


def main(argv: Sequence[str]) -> None:
  del argv
  work = tempfile.mkdtemp(prefix='bench_training_')
  results: dict[str, Any] = {'cpus': os.cpu_count(), 'steps': FLAGS.steps}
  try:
    results['ceiling'] = ceiling()
    print('ceiling:', json.dumps(results['ceiling']), flush=True)
    runs, input_costs = [], {}
    for size in map(int, FLAGS.sizes):
      dataset = build_dataset(FLAGS.photos, size, os.path.join(work, f'ds{size}'), precompute=False)
      input_costs[size] = input_cost(dataset, FLAGS.batch)
      print(f'input pipeline at {size} px:', json.dumps(input_costs[size]), flush=True)
      repeats = FLAGS.repeats if size == min(map(int, FLAGS.sizes)) else 1
      for variant in FLAGS.variants:
        for _ in range(repeats):
          for synthetic in (True, False):
            runs.append(measure(dataset, variant, size, FLAGS.batch, FLAGS.steps, synthetic, work))
            print('run:', json.dumps(runs[-1]), flush=True)
    results['input_pipeline'] = {str(size): cost for size, cost in input_costs.items()}
    summary = []
    for size in map(int, FLAGS.sizes):
      for variant in FLAGS.variants:
        mine = [r for r in runs if r['size'] == size and r['variant'] == variant]
        synthetic = _median([r['examples_per_s'] for r in mine if r['synthetic']])
        records = _median([r['examples_per_s'] for r in mine if not r['synthetic']])
        summary.append({
            'variant': variant, 'size': size, 'runs_each': len(mine) // 2,
            'synthetic_examples_per_s': synthetic, 'records_examples_per_s': records,
            'ab_input_cost': 1.0 - records / synthetic,
            'input_cpu_share': (records * input_costs[size]['ms_per_example_one_thread'] / 1000.0
                                / (os.cpu_count() or 1)),
            'achieved_gflops': _median([r['achieved_gflops'] for r in mine if not r['synthetic']]),
        })
    results['summary'] = summary
    results['runs'] = runs
    # Epoch time with embeddings precomputed by the dataset build vs computed in the graph (fusion, smallest size).
    size = int(FLAGS.sizes[0])
    precomputed = build_dataset(FLAGS.photos, size, os.path.join(work, 'pre'), precompute=True)
    in_graph = measure(os.path.join(work, f'ds{size}'), 'fusion', size, FLAGS.batch, FLAGS.steps, False, work)
    stored = measure(precomputed, 'fusion', size, FLAGS.batch, FLAGS.steps, False, work)
    from trainer.input import data as data_lib  # pylint: disable=g-import-not-at-top
    train_examples = data_lib.dataset_info(precomputed).examples['train']
    results['embeddings'] = {
        'size': size, 'train_examples': train_examples,
        'in_graph_epoch_s': train_examples / in_graph['examples_per_s'],
        'precomputed_epoch_s': train_examples / stored['examples_per_s'],
    }
    print('embeddings:', json.dumps(results['embeddings']), flush=True)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  benchmarks.write_results(FLAGS.output, results)
  peak = results['ceiling']['conv3x3_forward_and_filter_grad_gflops']
  print('\nSummary (medians; examples/s, fraction of the conv ceiling, input pipeline cost):')
  for row in results['summary']:
    print(f'  {row["variant"]:6s} {row["size"]:4d}px x{row["runs_each"]}: '
          f'synthetic {row["synthetic_examples_per_s"]:6.1f}/s, records {row["records_examples_per_s"]:6.1f}/s, '
          f'{row["achieved_gflops"]:6.1f} GFLOP/s = '
          f'{row["achieved_gflops"] / peak:.2f}; input cost: A/B {100 * row["ab_input_cost"]:+.1f}%, '
          f'CPU share {100 * row["input_cpu_share"]:.1f}%')
  e = results['embeddings']
  print(f'  epoch of {e["train_examples"]} examples at {e["size"]} px: in-graph embeddings {e["in_graph_epoch_s"]:.1f} s, '
        f'precomputed {e["precomputed_epoch_s"]:.1f} s. Results: {FLAGS.output}')


if __name__ == '__main__':
  app.run(main)
