"""`colorize`: colorize your own black-and-white photos with a pushed model.

    colorize old_photos/ scan.jpg 'gs://bucket/archive/*.png' --output=colorized/
    colorize family.jpg --compare --model=outputs/serving_model          # newest pushed version by default
    colorize photo.jpg --model=outputs/serving_model/1795328101     # or one version (an explicit SavedModel)
    colorize photo.jpg --runtime=tflite_int8       # its TFLite or ONNX export instead: no TensorFlow needed

Inputs are files, folders (recursive) or globs, local or `gs://`. Each photo is written as
`<output>/<name>.png` at its original resolution (`--compare`: gray | colorized | original side by side), atomically
(a temporary name, then a rename). Bad files are reported with the reason word of the project's one vocabulary and
a sentence (`FAILED scan.jpg: truncated: the file ends before the image does ...`, `contracts.dead_letters`) and
skipped; the exit status is 1 if any failed. The terminal shows a progress bar, those lines and a summary;
TensorFlow's, abseil's and Beam's logs go to a file under `--framework_log_dir` (`contracts.terminal_logs`),
or stay on the terminal with `--verbose`. `--runtime` picks what runs the model: the SavedModel (TensorFlow), or
one of the exports the trainer writes next to it (`serving.runtimes`: TFLite float16 or int8 weights, ONNX), which
run without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import sys
import time
from typing import Sequence

from absl import app
from absl import flags
from apache_beam.io.filesystems import FileSystems
import tqdm

from configs import flags as config_flags
from contracts import dead_letters
from contracts import runtime_exports
from contracts import terminal_logs
from serving import colorizer as colorizer_lib
from serving import model_store
from serving import outputs
from serving import runtimes

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so several commands share one process."""
  flags.DEFINE_string('model', None, 'SavedModel folder, or a pushed-model folder (newest version). Default: the '
                      "config's push.destination.")
  flags.DEFINE_string('output', 'colorized', 'Output folder (local or gs://).')
  flags.DEFINE_bool('compare', False, 'Write gray | colorized | original side by side instead of the result alone.')
  flags.DEFINE_enum('runtime', runtime_exports.SAVED_MODEL, runtime_exports.RUNTIMES,
                    'What runs the model: its SavedModel (TensorFlow) or one of its exports (no TensorFlow).')
  flags.DEFINE_bool('verbose', False, 'Framework logs (TensorFlow, abseil, Beam) on the terminal instead of in '
                    '--framework_log_dir.')
  flags.DEFINE_string('framework_log_dir', terminal_logs.DEFAULT_LOG_DIR, 'Where the framework logs go.')


_IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.gif', '.bmp', '.webp', '.tif', '.tiff')


@dataclasses.dataclass
class Job:
  source: str
  target: str


def _is_local_dir(path: str) -> bool:
  return '://' not in path and os.path.isdir(path)


def expand_inputs(inputs: Sequence[str], output_dir: str) -> tuple[list[Job], list[tuple[str, str]]]:
  """Input arguments -> jobs (source, target path) and (argument, reason) for arguments that match nothing."""
  jobs, missing = [], []
  for argument in inputs:
    if _is_local_dir(argument) or (argument.startswith('gs://') and argument.endswith('/')):
      root = argument.rstrip('/')
      pattern = FileSystems.join(root, '**')
    else:  # a file or a glob
      root, pattern = None, argument
    try:
      matched = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    except Exception:  # pylint: disable=broad-except
      missing.append((argument, 'cannot be listed (a bad glob or an unreachable location)'))
      continue
    if root is not None:
      matched = [p for p in matched if p.lower().endswith(_IMAGE_EXTENSIONS)]
    if not matched:
      missing.append((argument, 'no such file' if root is None else 'no image files in this folder'))
    for path in sorted(matched):
      relative = (os.path.relpath(path, root) if root and '://' not in root
                  else path[len(root) + 1:] if root else posixpath.basename(path))
      stem = os.path.splitext(relative)[0]
      jobs.append(Job(path, FileSystems.join(output_dir, stem + '.png')))
  return jobs, missing


def _read(path: str) -> bytes:
  with FileSystems.open(path, compression_type='uncompressed') as f:
    return f.read()


def run(inputs: Sequence[str], model: str, output_dir: str, compare: bool = False, terminal=sys.stderr,
        runtime: str = runtime_exports.SAVED_MODEL) -> int:
  """Colorizes `inputs` with `runtime` (`contracts.runtime_exports.RUNTIMES`); prints a progress bar, a line per
  failure and a summary on `terminal`. Returns the process exit status."""
  jobs, failures = expand_inputs(inputs, output_dir)
  try:
    colorizer = (colorizer_lib.Colorizer(model) if runtime == runtime_exports.SAVED_MODEL
                 else runtimes.RuntimeColorizer(model, runtime))
  except (model_store.ModelNotFound, runtimes.ExportUnavailable) as e:
    print(f'error: {e}', file=terminal)
    return 1
  shown = colorizer.model_dir if runtime == runtime_exports.SAVED_MODEL else f'{colorizer.path} ({runtime})'
  print(f'Model: {shown}', file=terminal)
  done, start = 0, time.perf_counter()
  for job in tqdm.tqdm(jobs, desc='colorizing', unit='photo', file=terminal, disable=not jobs):
    try:
      data = _read(job.source)
    except OSError:
      failures.append((job.source, dead_letters.sentence(dead_letters.UNREADABLE)))
      continue
    try:
      png = colorizer.colorize(data)  # validated and decoded by contracts.decode first: failures carry a reason
      outputs.write_atomically(job.target, colorizer_lib.comparison(data, png) if compare else png, 'image/png')
      done += 1
    except colorizer_lib.ColorizeError as e:
      failures.append((job.source, e.sentence))
    except OSError as e:
      failures.append((job.source, f'could not write {job.target} ({e.strerror or "I/O error"})'))
  for source, reason in failures:
    print(f'FAILED {source}: {reason}', file=terminal)
  seconds = time.perf_counter() - start
  print(f'{done} colorized, {len(failures)} failed in {seconds:.1f} s -> {output_dir}', file=terminal)
  return 1 if failures or not done else 0


def main(argv: Sequence[str]) -> None:
  if len(argv) < 2:
    raise app.UsageError('give at least one photo, folder or glob')
  model = FLAGS.model or config_flags.config_from_flags().push.destination
  capture = terminal_logs.Capture('colorize', FLAGS.framework_log_dir, capture=not FLAGS.verbose)
  try:  # TensorFlow loads in `run`, after fds 1/2 point at the log: its C++ banners land there
    status = run(argv[1:], model, FLAGS.output, FLAGS.compare, terminal=capture.stream, runtime=FLAGS.runtime)
    if capture.log_path:
      print(f'Framework log: {capture.log_path}', file=capture.stream)
  finally:
    capture.release()
  sys.exit(status)


def console_main() -> None:
  define_flags()
  app.run(main)


if __name__ == '__main__':
  console_main()
