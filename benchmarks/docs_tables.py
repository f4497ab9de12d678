"""The figures of README.md and docs/*.md, rendered from benchmarks/results/ (and the shipped weights' header).

    .venv/bin/python -m benchmarks.docs_tables            # rewrite every generated block in place
    .venv/bin/python -m benchmarks.docs_tables --check    # exit 1 when a block differs from a fresh render

A generated block sits between `<!-- NAME:begin -->` and `<!-- NAME:end -->` in a Markdown file; NAME says what
is rendered there (`BLOCKS`). The figures are never typed by hand, so a re-run benchmark changes the docs only
through this script, and tests/project/test_docs.py fails when a block and its results file disagree. A row a table needs
that its results file lacks is an error naming the row and the file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = 'benchmarks/results'
SHIPPED = 'trainer/pretrained/colorizer_unet_128.npz'
DOCUMENTS = ('README.md', 'docs/benchmarks.md', 'docs/quality.md', 'docs/shipped_colorizer.md')
SECTORS = ('0-60', '60-120', '120-180', '180-240', '240-300', '300-360')

# The models of a quality table (bench_unseen's row names), in table order, with the names readers see.
QUALITY_MODELS = {
    'reference: gray': 'no colour (gray)',
    'reference: sepia': 'constant sepia tint',
    'shipped': f'shipped colorizer (`{SHIPPED}`)',
    'demo': "`make demo`'s pushed model",
}

_BLOCK = re.compile(r'(<!-- ([a-z0-9-]+):begin -->\n)(.*?)(<!-- \2:end -->)', re.S)


class MissingResult(KeyError):
  """A results file, or a row a table needs, is missing."""

  def __str__(self):
    return str(self.args[0])


def _load(name: str) -> dict[str, Any]:
  path = os.path.join(ROOT, RESULTS, name)
  if not os.path.exists(path):
    raise MissingResult(f'{RESULTS}/{name}: missing (its benchmark writes it)')
  with open(path, encoding='utf-8') as f:
    return json.load(f)


def _rows_by_model(name: str, models) -> list[dict[str, Any]]:
  results = _load(name)
  by_model = {row['model']: row for row in results['rows']}
  missing = [m for m in models if m not in by_model]
  if missing:
    raise MissingResult(f'{RESULTS}/{name}: no row named {", ".join(repr(m) for m in missing)} '
                        f'(rows: {", ".join(repr(m) for m in by_model)})')
  return [by_model[m] for m in models]


def _nan(x) -> bool:
  return x is None or (isinstance(x, float) and math.isnan(x))


def _f(x, digits=2, sign=False) -> str:
  if _nan(x):
    return 'n/a'
  return f'{x:+.{digits}f}' if sign else f'{x:.{digits}f}'


def _interval(bounds, digits=3) -> str:
  if not bounds or any(_nan(b) for b in bounds):
    return 'n/a'
  return f'{bounds[0]:.{digits}f}-{bounds[1]:.{digits}f}'


def _table(header: list[str], rows: list[list[str]]) -> str:
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
  return '\n'.join(lines) + '\n'


def _sepia_multiple(row, sepia) -> str:
  """A model's hue recall as a multiple of the sepia tint's (what the gate's `min_hue_recall_vs_sepia` reads)."""
  if row['model'].startswith('reference: ') or not sepia['hue_recall']:
    return ''
  return f' = {row["hue_recall"] / sepia["hue_recall"]:.2f}x sepia'


def _quality_summary(name: str, what: str) -> str:
  """Hue recall with its 90% interval, the six sectors, ΔPSNR, colourfulness ratio, desaturation rate."""
  results = _load(name)
  rows = _rows_by_model(name, QUALITY_MODELS)
  sepia = rows[1]
  body = []
  for model, row in zip(QUALITY_MODELS.values(), rows):
    body.append([model, f'**{_f(row["hue_recall"], 3)}** ({_interval(row.get("hue_recall_interval"))})'
                 + _sepia_multiple(row, sepia)]
                + [_f(s) for s in row['hue_recall_sectors']]
                + [_f(row['delta_psnr'], sign=True), _f(row['colourfulness_ratio']), _f(row['desaturation_rate'])])
  header = (['model', 'hue-balanced recall (90% interval)'] + [f'{s}°' for s in SECTORS]
            + ['ΔPSNR vs gray (dB)', 'colourfulness ratio', 'desaturation rate'])
  return (f'{what}: {results["images"]} photos at {results["size"]} px (`{RESULTS}/{name}`).\n\n'
          + _table(header, body))


def _quality_sectors(name: str, what: str) -> str:
  """Every figure of each model, with the bootstrap interval of each sector."""
  results = _load(name)
  rows = _rows_by_model(name, QUALITY_MODELS)
  body = []
  for model, row in zip(QUALITY_MODELS.values(), rows):
    sectors = row.get('hue_recall_sectors_interval') or [None] * 6
    body.append([model, f'{_f(row["hue_recall"], 3)} ({_interval(row.get("hue_recall_interval"))})']
                + [f'{_f(s)} ({_interval(i, 2)})' for s, i in zip(row['hue_recall_sectors'], sectors)]
                + [f'{_f(row["psnr"])} ({_f(row["delta_psnr"], sign=True)})', _f(row['colourfulness_ratio']),
                   _f(row['delta_colourfulness'], 1), _f(row['desaturation_rate'], 3),
                   _f(row.get('rebalanced_ab_accuracy'), 3)])
  header = (['model', 'hue recall'] + [f'{s}°' for s in SECTORS]
            + ['PSNR (ΔPSNR) dB', 'CF ratio', 'ΔCF', 'desaturation', 'rebalanced ab acc.'])
  return (f'{what}: {results["images"]} photos at {results["size"]} px (`{RESULTS}/{name}`); 90% bootstrap '
          'intervals over the photos in brackets.\n\n' + _table(header, body))


def unseen_summary() -> str:
  return _quality_summary('unseen.json', 'Photos none of the models was trained on')


def heldout_summary() -> str:
  return _quality_summary('heldout_test.json', "The held-out test split of the shipped colorizer's corpus")


def unseen_sectors() -> str:
  return _quality_sectors('unseen.json', 'Photos none of the models was trained on')


def heldout_sectors() -> str:
  return _quality_sectors('heldout_test.json', "The held-out test split of the shipped colorizer's corpus")


def bench_quality() -> str:
  results = _load('quality.json')
  variants = results['variants']
  references = {v['variant']: v for v in variants if v['variant'].startswith('reference: ')}
  for needed in ('reference: gray', 'reference: sepia'):
    if needed not in references:
      raise MissingResult(f'{RESULTS}/quality.json: no row named {needed!r}')
  body = []
  for v in variants:
    name = v['variant'] if v['variant'].startswith('reference') else f'{v["variant"]} / {v["loss"]}'
    if v.get('overrides'):
      name += ' (' + ', '.join(f'`{o}`' for o in v['overrides']) + ')'
    decoding = ''
    if 'chroma_gain' in v:
      decoding = f'gain x{v["chroma_gain"]}'
    elif 'temperature' in v:
      decoding = f'T = {v["temperature"]}, s = {v.get("prior_correction", 0)}'
    steps = f'{v["steps"]} ({v["examples_per_s"]:.1f})' if 'steps' in v else ''
    body.append([name, steps, decoding, _f(v['delta_psnr'], sign=True), _f(v['colourfulness_ratio']),
                 _f(v['desaturation_rate']), _f(v['hue_recall'], 3),
                 ' / '.join(_f(s) for s in v['hue_recall_sectors'])])
  header = ['variant / loss', 'steps (examples/s)', 'decoding chosen', 'ΔPSNR vs gray (dB)', 'colourfulness ratio',
            'desaturation rate', 'hue-balanced recall', 'sectors ' + ' / '.join(SECTORS)]
  examples = results.get('examples', {})
  return (f'{results["minutes_per_variant"]:g} minutes of training per variant on {results["cpus"]} CPU cores, '
          f'{results["size"]} px, {examples.get("train", "?")} training examples; scored on '
          f'{variants[0]["images"]} eval photos (`{RESULTS}/quality.json`).\n\n' + _table(header, body))


def bench_dataset_build() -> str:
  r = _load('dataset_build.json')
  floor = statistics.median(run['images_per_s'] for run in r['decode_floor_runs'])
  loop = r['per_image_loop']
  rows = [['(a) decode floor: decode + resize, a process per core', f'{floor:.0f}', '1.00x',
           f'{floor / loop["images_per_s"]:.1f}x', '–', '–'],
          ['(b) per-image loop: PIL + scikit-image, float32 records', f'{loop["images_per_s"]:.1f}',
           f'{loop["images_per_s"] / floor:.3f}x', '1.0x', '–', f'{loop["bytes_per_record"] / 1024:.0f} KiB']]
  for i, job in enumerate(r['jobs']):
    copies = f'{job["copies"]} augmented cop{"y" if job["copies"] == 1 else "ies"}'
    what = (f'{job["mode"]}, {copies}, {job["pool"]} pool of {job["pool_size"]}'
            + (f', {job["workers"]} Beam workers' if job['workers'] > 1 else ''))
    rate = r['summary']['job_images_per_s'] if i == 0 else job['images_per_s']
    cells = [f'(c) the job: {what}' + (' (default)' if i == 0 else ''), f'{rate:.0f}', f'{rate / floor:.2f}x',
             f'{rate / loop["images_per_s"]:.1f}x', f'{job["examples_per_s"]:.0f}',
             f'{job["bytes_per_record"] / 1024:.0f} KiB']
    rows.append([f'**{c}**' for c in cells] if i == 0 else cells)
  header = ['what', 'images/s', 'vs decode floor', 'vs per-image loop', 'examples/s', 'bytes/record']
  profile = _table(['step (one worker thread)', 'ms per photo'],
                   [[step, f'{ms:.2f}'] for step, ms in r['profile_ms_per_photo'].items()])
  return (f'{r["images"]} photos at {r["size"]} px on {r["cpus"]} CPU cores (`{RESULTS}/dataset_build.json`; the '
          f'floor and the default job are medians of {len(r["decode_floor_runs"])} alternating runs).\n\n'
          + _table(header, rows) + '\n' + profile)


def bench_training() -> str:
  r = _load('training.json')
  ceiling = r['ceiling']['conv3x3_forward_and_filter_grad_gflops']
  rows = [[s['variant'], str(s['size']), f'{s["synthetic_examples_per_s"]:.1f}', f'{s["records_examples_per_s"]:.1f}',
           f'{s["achieved_gflops"]:.0f}', f'{s["achieved_gflops"] / ceiling:.2f}', f'{100 * s["ab_input_cost"]:+.1f}%',
           f'{100 * s["input_cpu_share"]:.1f}%'] for s in r['summary']]
  header = ['variant', 'size', 'synthetic input, examples/s', 'records, examples/s', 'achieved GFLOP/s',
            'fraction of the conv ceiling', 'input cost, A/B', 'input cost, CPU share']
  pipeline = ', '.join(f'{v["ms_per_example_one_thread"]:.2f} ms per example at {size} px'
                       for size, v in r['input_pipeline'].items())
  emb = r['embeddings']
  return (f'Batch 16, {r["steps"]} timed steps, {r["cpus"]} CPU cores (`{RESULTS}/training.json`). The machine\'s '
          f'ceiling in the same run: float32 matmul 4096² {r["ceiling"]["matmul_4096_gflops"]:.0f} GFLOP/s, 3x3 '
          f'convolution forward + filter gradient {ceiling:.0f} GFLOP/s.\n\n' + _table(header, rows)
          + f'\nThe input pipeline alone on one thread: {pipeline}. An epoch of {emb["train_examples"]} examples at '
          f'{emb["size"]} px (`fusion`): {emb["in_graph_epoch_s"]:.1f} s with the embedding computed in the graph, '
          f'{emb["precomputed_epoch_s"]:.1f} s with it precomputed by the dataset build.\n')


def bench_precision() -> str:
  r = _load('precision.json')
  by = {}
  for row in r['rows']:
    by.setdefault(row['configuration'], {})[row['precision']] = row['examples_per_s']
  precisions = list(dict.fromkeys(row['precision'] for row in r['rows']))
  rows = []
  for configuration, rates in by.items():
    cells = [configuration] + [_f(rates.get(p), 1 if rates.get(p, 0) >= 1 else 2) for p in precisions]
    if 'float32' in rates and 'mixed_bfloat16' in rates:
      cells.append(f'{rates["mixed_bfloat16"] / rates["float32"]:.2f}x')
    rows.append(cells)
  header = ['configuration'] + [f'{p}, examples/s' for p in precisions] + ['bf16 / fp32']
  return (f'Synthetic input, batch {r["batch"]}, {r["size"]} px (`{RESULTS}/precision.json`); `training.precision: '
          f'auto` picks {r["auto_precision"]} on this machine.\n\n' + _table(header, rows))


def bench_training_speed() -> str:
  """Optional results: a sentence saying so when the file is not there."""
  if not os.path.exists(os.path.join(ROOT, RESULTS, 'training_speed.json')):
    return 'No results of this benchmark are committed; the command above writes them.\n'
  r = _load('training_speed.json')
  by_setting: dict[str, dict[str, dict]] = {}
  for row in r['training_steps']:
    by_setting.setdefault(row['setting'], {})[row['phase']] = row
  phases = list(dict.fromkeys(row['phase'] for row in r['training_steps']))
  steps = [[setting] + [f'{rows[p]["examples_per_s"]:.1f} ({rows[p]["speedup"]:.2f}x)' if p in rows else '–'
                        for p in phases] for setting, rows in by_setting.items()]
  layers = [[layer['layer'], 'x'.join(str(d) for d in layer['input']), f'{layer["float32_ms"]:.1f}',
             f'{layer["bfloat16_ms"]:.1f}', f'{layer["bf16_over_f32"]:.2f}x'] for layer in r.get('layers', [])]
  text = (f'Batch {r["batch"]}, {r["size"]} px, {r["steps"]} timed steps per row, {r["cpus"]} CPU cores '
          f'(`{RESULTS}/training_speed.json`).\n\n'
          + _table(['setting'] + [f'{p} phase, examples/s (vs float32)' for p in phases], steps))
  if layers:
    text += '\n' + _table(['layer', 'input', 'float32 ms', 'bfloat16 ms', 'bf16 / fp32'], layers)
  xla = {row['xla']: row for row in r.get('xla', [])}
  if True in xla and False in xla:
    text += (f'\nThe whole gradient step: {xla[False]["examples_per_s"]:.1f} examples/s without XLA, '
             f'{xla[True]["examples_per_s"]:.1f} with it.\n')
  return text


def bench_colorize() -> str:
  r = _load('colorize.json')
  names = [n for n in ('model', 'baseline') if n in r]
  label = {'model': 'serving graph', 'baseline': 'previous serving graph (same weights)'}

  def row(what, fmt):
    return [what] + [fmt(r[n]) for n in names]

  def memory(m):
    peaks = ', '.join(f'{p / 1024:.2f}' for p in m['memory_24mp']['peak_mib_after_each_call'])
    return f'{peaks} GiB (before the first: {m["memory_24mp"]["baseline_mib"] / 1024:.2f} GiB)'

  width, height = r['model']['memory_24mp']['output_size']
  lat = lambda m: m['one_megapixel_latency_s']
  text = _table(['what'] + [label[n] for n in names], [
      row('1-megapixel photos, latency p50 / p90 / p99',
          lambda m: f'{lat(m)["p50"]:.3f} / {lat(m)["p90"]:.3f} / {lat(m)["p99"]:.3f} s'),
      row('1-megapixel photos, throughput', lambda m: f'{m["one_megapixel_images_per_s"]:.1f} images/s'),
      row('1-megapixel photos, PNG size', lambda m: f'{m["one_megapixel_png_kib"]:.0f} KiB'),
      row('bundled photos at their own size, throughput', lambda m: f'{m["native_size_images_per_s"]:.1f} images/s'),
      row(f'{width}x{height} photo colorized 5 times: peak memory after each call', memory),
  ])
  stages = r['model']['stages_ms_1mp']
  text += '\nWhere a 1-megapixel photo\'s time goes in the serving graph (median ms per stage):\n\n' + _table(
      ['stage', 'ms'], [[k, f'{v:.1f}'] for k, v in stages.items()] + [['sum', f'{sum(stages.values()):.1f}']])
  return text + f'\n{r["photos"]} photos, {r["cpus"]} CPU cores (`{RESULTS}/colorize.json`).\n'


RUNTIME_LABELS = {
    'savedmodel': 'SavedModel (TensorFlow)',
    'tflite_float16': 'TFLite, float16 weights (ai-edge-litert)',
    'tflite_int8': 'TFLite, int8 dynamic-range weights (ai-edge-litert)',
    'onnx': 'ONNX, float32 (ONNX Runtime)',
}


def bench_runtimes() -> str:
  r = _load('runtimes.json')
  rows = []
  for name, x in r['runtimes'].items():
    lat, first, delta = x['one_megapixel_latency_s'], x['first_photo_in_a_fresh_process'], x.get('mean_delta_e')
    rows.append([RUNTIME_LABELS.get(name, name), f'`--runtime={name}`', f'{x["bytes"] / 1e6:.1f} MB',
                 f'{lat["p50"]:.3f} / {lat["p90"]:.3f} s', f'{first["seconds"]:.1f} s',
                 f'{first["peak_rss_mib"]:.0f} MiB', 'yes' if first['tensorflow_imported'] else 'no',
                 f'{delta["png"]:.3f} (at most {x["max_mean_delta_e"]:g})' if delta else 'reference',
                 _f(delta['jpeg'], 3) if delta else 'reference',
                 _f(delta['one_megapixel_gray_jpeg'], 3) if delta else 'reference'])
  header = ['runtime', 'flag', 'model file', '1 MP latency p50 / p90', 'fresh process to first photo',
            'its peak memory', 'imports TensorFlow', 'mean ΔE, same pixels (PNG)', 'mean ΔE, JPEG files',
            'mean ΔE, 1 MP gray JPEGs']
  return (f'Model: `{r["path"]}` ({r["image_size"]} px); {r["photos"]} photos, {r["cpus"]} CPU cores '
          f'(`{RESULTS}/runtimes.json`).\n\n' + _table(header, rows))


def bench_web_load() -> str:
  r = _load('web_load.json')
  rows = []
  for run in r['runs']:
    upload = run['upload']
    for level in run['levels']:
      counts = level['status_counts']
      refused = level.get('latency_503_s')
      rows.append([f'{upload["width"]}x{upload["height"]} ({upload["bytes"] // 1000} KB)', str(level['concurrent']),
                   str(counts.get('200', 0)), str(sum(v for k, v in counts.items() if k != '200')),
                   str(level['failed_connections']), f'{level["colorized_per_s"]:.2f}',
                   f'{level["latency_200_s"]["p50"]:.2f} / {level["latency_200_s"]["p99"]:.2f} s',
                   f'{refused["p50"]:.2f} / {refused["max"]:.2f} s' if refused else '–',
                   f'{level["server_peak_rss_mib"]:.0f} MiB'])
  header = ['upload', 'at once', '200', '503', 'failed connections', 'colorized/s', 'p50 / p99 of the 200s',
            'p50 / max of the 503s', 'server peak RSS']
  limits = ', '.join(f'`--{k}={v:g}`' for k, v in r['server_limits'].items())
  return (f'Model: {r["model"]}; {r["cpus"]} CPU cores; server limits {limits} (`{RESULTS}/web_load.json`).\n\n'
          + _table(header, rows))


def _setting(setting: dict) -> str:
  return ', '.join(f'`{k}={v:g}`' for k, v in setting.items())


def bench_video() -> str:
  r = _load('video.json')
  tuning, clips, results = r['tuning'], r['clips'], r['results']
  grid = tuning['grid']
  settings = 1
  for values in grid.values():
    settings *= len(values)
  held_out = [name for name, clip in clips.items() if clip['role'] == 'held-out']
  pick = ('the defaults themselves' if tuning['pick_is_the_defaults'] else _setting(tuning['pick']))
  text = (f'Defaults of the consistency step: {_setting(r["defaults"])}. Tuned on `{tuning["clip"]}` alone: of its '
          f'{settings} settings ({" x ".join(f"`{k}` {min(v):g}-{max(v):g}" for k, v in grid.items())}), the least '
          f'flicker among those that keep hue recall within {tuning["hue_margin_points"]:g} point and PSNR within '
          f'{tuning["psnr_margin_db"]:g} dB of per-frame colour\'s is {pick}. Scored on '
          f'{", ".join(f"`{name}`" for name in held_out)}, which take no part in the choice. '
          f'{r["cpus"]} CPU cores (`{RESULTS}/video.json`).\n\n')
  described = {name: (', '.join(clip['shots']) if 'shots' in clip else clip['title'].split(' (')[0])
               for name, clip in clips.items()}
  text += _table(['clip', 'role', 'what', 'size', 'frames', 'cuts', 'reliable pixels'],
                 [[f'`{name}`', clip['role'], described[name], 'x'.join(map(str, clip['size'])), str(clip['frames']),
                   str(len(clip['cuts'])), f'{clip["flicker_reliable_share"]:.0%}'] for name, clip in clips.items()])
  rows = []
  labels = (('per_frame', 'per-frame colorization'), ('defaults', 'consistency step, defaults'),
            ('tuning_pick', 'consistency step, tuning pick'))
  for name, entry in results.items():
    base, original = entry['per_frame'], entry['original_flicker']
    for key, label in labels:
      if key not in entry or (key == 'tuning_pick' and tuning['pick_is_the_defaults']):
        continue
      x = entry[key]
      rows.append([f'`{name}`', label, _f(x['flicker']), _f(x['flicker'] / base['flicker']),
                   _f(x['flicker'] / original), _f(x['hue_recall'], 3), _f(x['psnr'])])
    rows.append([f'`{name}`', 'the original colour clip', _f(original), _f(original / base['flicker']), '1.00',
                 '1.000', '–'])
  text += '\n' + _table(['clip', 'output', 'flicker (ab units)', 'x per-frame', 'x original', 'hue-balanced recall',
                         'PSNR (dB)'], rows)

  def met(target: dict, figure: str) -> str:
    value = f'{target[figure]:+.2f}' if figure == 'difference' else f'{target[figure]:.2f}'
    return value + (' **met**' if target['met'] else ' **not met**')

  target_rows = []
  for name in held_out:
    t = r['targets'][name]
    target_rows.append([f'`{name}`'] + [met(t[key], figure) for key, figure in (
        ('consistent_flicker_vs_per_frame', 'ratio'), ('consistent_flicker_vs_original', 'ratio'),
        ('hue_recall_points_vs_per_frame', 'difference'))])
  text += ('\nTargets, with the defaults on the held-out clips:\n\n'
           + _table(['clip', 'flicker x per-frame (<= 0.5)', 'flicker x original (<= 1.5)',
                     'hue recall, points vs per-frame (within 2)'], target_rows))
  inputs = {'480p': 'gray MP4, 480p', '720p': 'gray MP4, 720p', '480p_colour_input': 'colour MP4, 480p',
            '720p_real_clip': f'`{clips["held_out_real"]["file"]}` (colour, 720p)'}
  speed = [[inputs.get(name, name), f'{s["frames_per_s"]:.1f}', f'{s["model_frames_per_s"]:.1f}',
            f'{s["consistency_frames_per_s"]:.1f}'] for name, s in r['speed'].items() if 'frames_per_s' in s]
  return text + '\n' + _table(['input', 'frames/s, whole path', 'model alone', 'consistency step alone'], speed)


def shipped_header() -> str:
  import numpy as np  # pylint: disable=g-import-not-at-top
  with np.load(os.path.join(ROOT, SHIPPED), allow_pickle=False) as archive:
    header = json.loads(bytes(archive['__meta__']).decode('utf-8'))
  averaging = header.get('weight_averaging') or {}
  sampling = header.get('hue_repeat_sampling') or {}
  factors = ' / '.join(f'{f:g}' for f in sampling.get('sector_factors', []))
  rows = [
      ['`variant`, `loss`', f'{header["variant"]}, {header["loss"]}'],
      ['`embedder`', header['embedder']],
      ['`encoder_filters`, `decoder_filters`, `fusion_channels`',
       f'{header["encoder_filters"]}, {header["decoder_filters"]}, {header["fusion_channels"]}'],
      ['`image_size`', f'{header["image_size"]} px'],
      ['`steps`', str(header['steps'])],
      ['`recipe`', f'`{header.get("recipe", "")}`'],
      ['`trained_on`', header.get('trained_on', '')],
      ['`warm_started_from`', header.get('warm_started_from') or "'' (ImageNet's encoder)"],
  ]
  if averaging:
    rows.append(['`weight_averaging`', f'the mean of {averaging["snapshots"]} snapshots, steps '
                 f'{averaging["first_step"]}-{averaging["last_step"]} (the last {averaging["fraction"]:.0%})'])
  if sampling:
    rows.append(['`hue_repeat_sampling`', f'threshold {sampling["threshold"]:g}; factors per sector '
                 f'{" / ".join(SECTORS)}°: {factors}'])
  sources = header.get('data_sources') or []
  text = (f'`{SHIPPED}`, its header:\n\n' + _table(['field', 'value'], rows))
  if sources:
    text += (f'\n`data_sources` ({sum(s["photos"] for s in sources)} photos):\n\n'
             + _table(['source', 'content', 'licence', 'photos'],
                      [[s['name'], s.get('content', ''), s.get('licence', ''), str(s['photos'])] for s in sources]))
  return text


BLOCKS: dict[str, Callable[[], str]] = {
    'quality-table': unseen_summary,
    'unseen-summary': unseen_summary,
    'heldout-summary': heldout_summary,
    'unseen-sectors': unseen_sectors,
    'heldout-sectors': heldout_sectors,
    'bench-quality': bench_quality,
    'bench-dataset-build': bench_dataset_build,
    'bench-training': bench_training,
    'bench-precision': bench_precision,
    'bench-training-speed': bench_training_speed,
    'bench-colorize': bench_colorize,
    'bench-runtimes': bench_runtimes,
    'bench-web-load': bench_web_load,
    'bench-video': bench_video,
    'shipped-header': shipped_header,
}


def blocks_of(text: str) -> list[tuple[str, str]]:
  """(name, content) of every generated block of a Markdown text."""
  return [(m.group(2), m.group(3)) for m in _BLOCK.finditer(text)]


def render_text(text: str, path: str = '<text>') -> str:
  """`text` with every generated block rendered afresh; an unknown block name is an error."""
  def replace(match):
    name = match.group(2)
    if name not in BLOCKS:
      raise KeyError(f'{path}: unknown generated block {name!r} (known: {", ".join(BLOCKS)})')
    return match.group(1) + BLOCKS[name]() + match.group(4)
  return _BLOCK.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--check', action='store_true', help='Exit 1 when a generated block differs from a fresh render.')
  args = parser.parse_args(argv)
  stale = []
  for document in DOCUMENTS:
    path = os.path.join(ROOT, document)
    with open(path, encoding='utf-8') as f:
      text = f.read()
    fresh = render_text(text, document)
    if fresh != text:
      stale.append(document)
      if not args.check:
        with open(path, 'w', encoding='utf-8') as f:
          f.write(fresh)
  if args.check and stale:
    print(f'generated blocks out of date in {", ".join(stale)}: run python -m benchmarks.docs_tables')
    return 1
  print(('rewrote ' + ', '.join(stale)) if stale and not args.check else 'generated blocks are up to date')
  return 0


if __name__ == '__main__':
  sys.exit(main())
