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

import os
from typing import Any, Iterable, Sequence

from absl import app
from absl import flags
import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.ml.inference import base as inference_base
from apache_beam.ml.inference import tensorflow_inference
from apache_beam.options.pipeline_options import PipelineOptions

import configs
from configs import flags as config_flags
from contracts import beam_options
from contracts import dead_letters
from contracts import matching
from contracts import sources
from contracts import terminal_logs
from serving import colorizer as colorizer_lib
from serving import model_store
from serving import outputs

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so several commands share one process."""
  flags.DEFINE_string('input', None, 'Folder, glob or gs:// path of the photos.')
  flags.DEFINE_string('output', 'colorized', 'Output folder (local or gs://).')
  flags.DEFINE_string('model', None, "SavedModel or pushed-model folder (default: the config's push.destination).")
  flags.DEFINE_bool('verbose', False, 'Framework logs (TensorFlow, abseil, Beam) on the terminal instead of in '
                    '--framework_log_dir.')
  flags.DEFINE_string('framework_log_dir', terminal_logs.DEFAULT_LOG_DIR, 'Where the framework logs go.')


NAMESPACE = 'colorize_batch'


def _colorize_batch(model, batch: Sequence[Any], inference_args: dict[str, Any],
                    model_id: str | None = None) -> Iterable[inference_base.PredictionResult]:
  """RunInference's inference_fn: one call of `serving_default` on a batch of encoded photos."""
  # Lazy: TensorFlow loads in each Beam worker, not in the launching process.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  del inference_args
  images = tf.stack([tf.convert_to_tensor(example) for example in batch])
  pngs = model.signatures['serving_default'](images=images)['png'].numpy()
  return [inference_base.PredictionResult(example, png, model_id) for example, png in zip(batch, pngs)]


class ColorizerModelHandler(tensorflow_inference.TFModelHandlerTensor):
  """TensorFlow's tensor handler, loading our SavedModel with `tf.saved_model.load` (the stock loader goes through
  `tf.keras.models.load_model`, which Keras 3 only offers for `.keras` files) and calling its signature."""

  def __init__(self, model_path: str, max_batch_size: int = 8):
    super().__init__(model_path, inference_fn=_colorize_batch, max_batch_size=max_batch_size)
    self._path = model_path

  def load_model(self):
    model, _ = model_store.load(self._path)
    return model

  def get_num_bytes(self, batch) -> int:
    return sum(len(bytes(example.numpy())) for example in batch)


def _output_path(output: str, relative: str) -> str:
  return FileSystems.join(output, os.path.splitext(relative)[0] + '.png')


class _PrepareFn(beam.DoFn):
  """Reads and validates one file: (relative name, encoded tensor) or a dead letter; nothing for a file whose
  output an earlier run already wrote (`skipped`)."""

  def __init__(self, root: str, output: str):
    self._root = root
    self._output = output

  def process(self, uri: str):
    # Lazy: TensorFlow loads in each Beam worker, not in the launching process.
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    relative = uri[len(self._root):].lstrip('/') if self._root and uri.startswith(self._root) else os.path.basename(uri)
    if outputs.is_complete_png(_output_path(self._output, relative)):
      Metrics.counter(NAMESPACE, 'skipped').inc()
      return
    try:
      with FileSystems.open(uri, compression_type='uncompressed') as f:
        data = f.read()
      data = colorizer_lib.prepare(data)
    except colorizer_lib.ColorizeError as e:
      Metrics.counter(NAMESPACE, 'dead_letters').inc()
      yield beam.pvalue.TaggedOutput('dead', dead_letters.DeadLetter(uri, 'read', e.reason, e.sentence))
      return
    except OSError as e:
      Metrics.counter(NAMESPACE, 'dead_letters').inc()
      yield beam.pvalue.TaggedOutput('dead', dead_letters.DeadLetter(uri, 'read', dead_letters.UNREADABLE, str(e)))
      return
    yield relative, tf.constant(data)


class _WriteFn(beam.DoFn):
  def __init__(self, output: str):
    self._output = output

  def process(self, element):
    relative, result = element
    path = _output_path(self._output, relative)
    outputs.write_atomically(path, bytes(result.inference), 'image/png')
    Metrics.counter(NAMESPACE, 'colorized').inc()
    yield path


def _failed_inference(element) -> Iterable[dead_letters.DeadLetter]:
  """RunInference's failed batches, `(batch, exception)`: one dead letter per photo of the batch."""
  batch_elements, error = element
  # Lazy: TensorFlow loads in each Beam worker, not in the launching process.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if isinstance(error, tf.errors.InvalidArgumentError):  # the graph's assertions name the reason (`too_large: ...`)
    reason, detail = dead_letters.reason_of_model_error(error.message)
  else:
    reason, detail = dead_letters.INFERENCE_FAILED, ''
  for relative, _ in batch_elements:
    Metrics.counter(NAMESPACE, 'dead_letters').inc()
    yield dead_letters.DeadLetter(relative, 'inference', reason, dead_letters.sentence(reason, detail))


def build(root: beam.Pipeline, input_uri: str, output: str, model: str) -> None:
  source = sources.parse_input_uri(input_uri)
  base = input_uri.rstrip('/') if '*' not in input_uri else ''
  if base and '://' not in base:
    base = os.path.abspath(base)
  uris, match_dead = root | 'Match' >> matching.MatchFiles(source.patterns, batch_size=None)
  prepared = uris | 'Prepare' >> beam.ParDo(_PrepareFn(base, output)).with_outputs('dead', main='ok')
  colorized, dlq = prepared.ok | 'Colorize' >> inference_base.RunInference(
      inference_base.KeyedModelHandler(ColorizerModelHandler(model))).with_exception_handling()
  colorized | 'Write' >> beam.ParDo(_WriteFn(output))
  failed = dlq.failed_inferences | 'FailedInference' >> beam.FlatMap(_failed_inference)
  ((match_dead, prepared.dead, failed)
   | 'AllDeadLetters' >> beam.Flatten()
   | 'CollectDeadLetters' >> beam.combiners.ToList()
   | 'WriteDeadLetters' >> beam.Map(dead_letters.write_dead_letters,
                                         FileSystems.join(output, dead_letters.DEAD_LETTERS_FILE)))


def run(input_uri: str, output: str, model: str, runner: configs.RunnerConfig, extra_args: Sequence[str] = ()):
  outputs.remove_partial_files(output)  # temporary files of a killed run (never under an output's name)
  root = beam.Pipeline(options=PipelineOptions(beam_options.beam_args(runner) + list(extra_args)))
  build(root, input_uri, output, model)
  result = root.run()
  result.wait_until_finish()
  counters = {c.key.metric.name: c.committed for c in result.metrics().query()['counters']
              if c.key.metric.namespace == NAMESPACE}
  return counters


def main(argv: Sequence[str]) -> None:
  config = config_flags.config_from_flags()
  if not FLAGS.input:
    raise app.UsageError('--input is required')
  capture = terminal_logs.Capture('colorize-batch', FLAGS.framework_log_dir, capture=not FLAGS.verbose)
  try:  # Beam's and TensorFlow's logs of the run land in the log file
    counters = run(FLAGS.input, FLAGS.output, FLAGS.model or config.push.destination, config.runner, argv[1:])
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
