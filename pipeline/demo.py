"""The main job on the bundled sample photos (`make demo`): the whole TFX pipeline, then a summary.

LabExampleGen -> ColorizerTrainer -> ColorizationEvaluator -> Pusher under LocalDagRunner (SQLite ML Metadata), then
reads this run's artifacts back from ML Metadata and prints: the dataset, blessed or not and why, the metrics,
where the pushed model, the report and sample colorizations are. The terminal shows one line per component, the
trainer's step lines and the summary; the framework logs go to outputs/logs/demo-<timestamp>-<pid>.log
(pipeline/console.py), whose last lines and path are printed if the run fails.
"""

from __future__ import annotations

# First, before TensorFlow and TFX are imported: their import-time banners go to the run's log, not the terminal.
from pipeline import console  # pylint: disable=g-bad-import-order
if __name__ == '__main__':
  console.start('demo')

import json  # pylint: disable=g-import-not-at-top,wrong-import-position
import os
import time
from typing import Sequence

from absl import app
from absl import flags
import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from configs import flags as config_flags
from contracts import dataset_version
from pipeline import run_local

FLAGS = flags.FLAGS

# The demo promises the whole run in under 4 minutes on 2 cores: dataset ~20 s, trainer set-up, decoding choice
# and export ~40 s, evaluator and pusher ~12 s, start-up and samples ~20 s; the step loop gets what is left.
TRAIN_SECONDS = 135.0


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so several commands share one process."""
  flags.DEFINE_integer('samples', 4, 'Test-split photos to colorize with the pushed (or candidate) model.')
  flags.DEFINE_float('train_seconds', TRAIN_SECONDS, 'Wall-time budget of the trainer\'s step loop '
                     '(training.time_budget_seconds; the config\'s epochs still cap it); 0 = train the epochs. '
                     'A --set training.time_budget_seconds=... wins over it.')


def _newest(store, type_name: str):
  artifacts = store.get_artifacts_by_type(type_name)
  return max(artifacts, key=lambda a: a.id) if artifacts else None


def summarize(config, seconds: float) -> str:
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = os.path.abspath(config.runner.metadata_path)
  store = mlmd.MetadataStore(connection)
  examples = _newest(store, 'Examples')
  model = _newest(store, 'Model')
  evaluation = _newest(store, 'ModelEvaluation')
  pushed = _newest(store, 'PushedModel')
  lines = [f'Pipeline {config.runner.pipeline_name} finished in {seconds:.0f} s '
           f'(ML Metadata: {config.runner.metadata_path}, artifacts: {config.runner.pipeline_root})']
  manifest = dataset_version.read_manifest(examples.uri)
  counts = ', '.join(f'{split} {s["examples"]}' for split, s in manifest['splits'].items())
  lines.append(f'  examples: {counts}; dead letters {manifest["dead_letters"]["total"]} '
               f'{json.dumps(manifest["dead_letters"]["by_reason"])} ({examples.uri})')
  report = json.load(open(os.path.join(evaluation.uri, 'metrics.json')))
  verdict = 'BLESSED' if report['blessed'] else 'NOT BLESSED: ' + '; '.join(report['reasons'])
  lines.append(f'  model: {model.uri}  ->  {verdict}')
  if config.training.warm_start_from or config.training.warm_start_from_blessed:
    start = config.training.warm_start_from or 'scratch'
    lines.append(f'  trained from: {"the latest blessed model, else " if config.training.warm_start_from_blessed else ""}'
                 f'{start} (training.warm_start_from)')
  m = report['candidate']
  lines.append(f'  metrics on {report["examples"]} {report["split"]} examples: PSNR {m["psnr"]:.2f} dB '
               f'(gray baseline {m["psnr_gray"]:.2f}, ΔPSNR {m["delta_psnr"]:+.2f}), colourfulness ratio '
               f'{m["colourfulness_ratio"]:.2f} (ΔCF {m["delta_colourfulness"]:.1f}), desaturation rate '
               f'{m["desaturation_rate"]:.2f}, rebalanced ab accuracy {m["rebalanced_ab_accuracy"]:.3f}')
  sectors = ' '.join('n/a' if s != s else f'{s:.2f}' for s in m['hue_recall_sectors'])
  references = report['references']
  lines.append(f'  hue-balanced recall {m["hue_recall"]:.3f} (sectors 0-60 ... 300-360 deg: {sectors}); references on '
               f'the same examples: no colour {references["gray"]["hue_recall"]:.3f}, constant sepia '
               f'{references["sepia"]["hue_recall"]:.3f} (colourfulness ratio '
               f'{references["sepia"]["colourfulness_ratio"]:.2f})')
  if report['baseline']:
    b = report['baseline']
    kind = ('the model it started from' if report.get('baseline_kind') == 'start' else 'the latest blessed model')
    lines.append(f'  against {kind}, same examples: hue recall {b["hue_recall"]:.3f} -> {m["hue_recall"]:.3f} '
                 f'({100 * (m["hue_recall"] - b["hue_recall"]):+.1f} points), PSNR {b["psnr"]:.2f} -> '
                 f'{m["psnr"]:.2f} dB ({m["psnr"] - b["psnr"]:+.2f})')
  lines.append(f'  report: {os.path.join(evaluation.uri, "report.html")}')
  if pushed is not None and pushed.custom_properties['pushed'].int_value:
    source = pushed.custom_properties.get('pushed_model_source')
    which = ('the model it started from, as it is (the candidate was refused)'
             if source is not None and source.string_value == 'start' else 'the candidate')
    lines.append(f'  pushed model: {pushed.custom_properties["pushed_destination"].string_value} ({which})')
  else:
    lines.append(f'  pushed model: none this run (not blessed); serving folder {config.push.destination}')
  return '\n'.join(lines)


def colorize_samples(config, count: int, out_dir: str) -> list[str]:
  """gray | colorized | original strips for a few test photos, with the newest pushed model."""
  # Lazy: after the pipeline run, so the quiet console is set up before TensorFlow loads.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from contracts import schema  # pylint: disable=g-import-not-at-top
  from serving import colorizer as colorizer_lib  # pylint: disable=g-import-not-at-top
  connection = metadata_store_pb2.ConnectionConfig()
  connection.sqlite.filename_uri = os.path.abspath(config.runner.metadata_path)
  examples = _newest(mlmd.MetadataStore(connection), 'Examples')
  files = tf.io.gfile.glob(os.path.join(examples.uri, schema.split_file_pattern('test')))
  uris = [schema.decode_example_numpy(r.numpy())[schema.SOURCE_URI]
          for r in tf.data.TFRecordDataset(files, compression_type='GZIP').take(count)]
  colorizer = colorizer_lib.Colorizer(config.push.destination)
  os.makedirs(out_dir, exist_ok=True)
  written = []
  for uri in uris:
    with open(uri, 'rb') as f:
      data = f.read()
    path = os.path.join(out_dir, f'{os.path.basename(os.path.dirname(uri))}_{os.path.splitext(os.path.basename(uri))[0]}.png')
    with open(path, 'wb') as f:
      f.write(colorizer_lib.comparison(data, colorizer.colorize(data)))
    written.append(path)
  return written


def main(argv: Sequence[str]) -> None:
  del argv
  # Framework logs (TFX, ML Metadata, Beam, TensorFlow's C++ logs, its worker processes) go to the log file; the
  # terminal gets one line per TFX component, the trainer's step lines and the summary.
  with console.start('demo') as out:
    budget = [f'training.time_budget_seconds={FLAGS.train_seconds}'] if FLAGS.train_seconds else []
    config = config_flags.config_from_flags(defaults=budget)
    out.relocate(os.path.join(os.path.dirname(config.runner.pipeline_root), 'logs'))  # next to the outputs
    out.print(f'Running the TFX pipeline on {config.data.input_uri} (LocalDagRunner; framework logs: '
              f'{out.log_path}) ...')
    start = time.perf_counter()
    run_local.run(config)
    seconds = time.perf_counter() - start
    out.print()
    out.print('=== Summary ===')
    out.print(summarize(config, seconds))
    try:
      samples = colorize_samples(config, FLAGS.samples, os.path.join(os.path.dirname(config.push.destination),
                                                                   'demo_samples'))
      out.print(f'  sample colorizations (gray | colorized | original), pushed model: {os.path.dirname(samples[0])}')
      for path in samples:
        out.print(f'    {path}')
    except FileNotFoundError as e:
      out.print(f'  sample colorizations: none ({e})')


def console_main() -> None:
  define_flags()
  app.run(main)


if __name__ == '__main__':
  console_main()
