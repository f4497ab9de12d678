"""The batch colorization job's Beam pipeline (`python -m serving.batch` runs it): validation, RunInference with
TensorFlow's model handler, atomic PNG writes and the dead letters. What it does: serving/batch.py's docstring."""

from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.ml.inference import base as inference_base
from apache_beam.ml.inference import tensorflow_inference
from apache_beam.options.pipeline_options import PipelineOptions

import configs
from contracts import beam_options
from contracts import dead_letters
from contracts import matching
from contracts import sources
from serving import colorizer as colorizer_lib
from serving import model_store
from serving import outputs

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
