"""Batch colorization at scale: a Beam pipeline using RunInference with TensorFlow's model handler.

    python -m serving.batch --input='gs://bucket/scans/**' --output=gs://bucket/colorized --model=gs://bucket/serving
    python -m serving.batch --input=old_photos/ --output=colorized/ -- --runner=DataflowRunner --project=... ...

Reads every file under the input (folder, glob, gs://), validates it (header, pixel limit, EXIF orientation and
formats TensorFlow does not decode are normalized to PNG), colorizes batches with the SavedModel's
`serving_default` signature through `RunInference`, and writes `<output>/<relative path>.png`. Every file that
fails, at validation or inference, goes to `<output>/dead_letters.jsonl` (`contracts.dead_letters`: uri, stage,
reason code, detail), the dataset build's format; nothing is dropped.

Kill safety: each PNG is written atomically (`serving.outputs`: a temporary name, then a rename; one object write on
gs://), so no half-written PNG ever carries an output name. A re-run skips every input whose output already is a
complete PNG (counter `skipped`) and colorizes the rest; the dead letters are recomputed by every run (the failed
inputs have no output, so they are tried again) and the file is rewritten whole, never appended: no duplicates.
"""

from __future__ import annotations

from typing import Sequence

from absl import app
from absl import flags
from apache_beam.io.filesystems import FileSystems

from configs import flags as config_flags
from contracts import dead_letters
from contracts import terminal_logs

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so several commands share one process."""
  flags.DEFINE_string('input', None, 'Folder, glob or gs:// path of the photos.')
  flags.DEFINE_string('output', 'colorized', 'Output folder (local or gs://).')
  flags.DEFINE_string('model', None, "SavedModel or pushed-model folder (default: the config's push.destination).")
  flags.DEFINE_bool('verbose', False, 'Framework logs (TensorFlow, abseil, Beam) on the terminal instead of in '
                    '--framework_log_dir.')
  flags.DEFINE_string('framework_log_dir', terminal_logs.DEFAULT_LOG_DIR, 'Where the framework logs go.')


def main(argv: Sequence[str]) -> None:
  config = config_flags.config_from_flags()
  if not FLAGS.input:
    raise app.UsageError('--input is required')
  capture = terminal_logs.Capture('colorize-batch', FLAGS.framework_log_dir, capture=not FLAGS.verbose)
  try:  # Beam's and TensorFlow's logs of the run land in the log file
    # Lazy: TensorFlow and Beam load after fds 1/2 point at the log, so their import-time banners land there too.
    from serving import batch_pipeline  # pylint: disable=g-import-not-at-top
    counters = batch_pipeline.run(FLAGS.input, FLAGS.output, FLAGS.model or config.push.destination, config.runner, argv[1:])
    print(f'{counters.get("colorized", 0)} colorized, {counters.get("skipped", 0)} skipped (already done), '
          f'{counters.get("dead_letters", 0)} dead letters -> '
          f'{FLAGS.output} (dead letters: {FileSystems.join(FLAGS.output, dead_letters.DEAD_LETTERS_FILE)})'
          + (f'; framework log: {capture.log_path}' if capture.log_path else ''), file=capture.stream)
  finally:
    capture.release()


def console_main() -> None:
  define_flags()
  app.run(main)


if __name__ == '__main__':
  console_main()
