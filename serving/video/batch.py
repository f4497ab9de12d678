"""Colorizing many films: a Beam pipeline, one video per element.

    python -m serving.video.batch --input=films/ --output=colorized/ --model=outputs/serving_model
    python -m serving.video.batch --input='gs://bucket/reels/*.mkv' --output=gs://bucket/colour -- --runner=...

Every file under the input (folder, glob, gs://) is one element: a worker colorizes it whole (frames in order:
the consistency step needs the previous frame) with `serving.video.colorize` and writes
`<output>/<relative path>.mp4`. A video that fails goes to `<output>/dead_letters.jsonl` (`contracts.dead_letters`:
uri, stage, reason, sentence), as in the photo job (`serving/batch.py`); nothing is dropped.

Kill safety and resume, as in `serving/batch.py`: an output appears under its name only when complete (local: a
temporary `.partial` name beside it, renamed; gs://: one object upload, which appears whole), so a re-run skips
every input whose output is a complete MP4 (counter `skipped`) and colorizes the rest; the `.partial` files of a
killed run are removed first; the dead letters are recomputed and rewritten whole.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Sequence

from absl import app
from absl import flags
import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.utils import shared

import configs
from configs import flags as config_flags
from contracts import beam_options
from contracts import dead_letters
from contracts import matching
from contracts import sources
from serving import outputs
from serving.video import containers
from serving.video import errors

FLAGS = flags.FLAGS
NAMESPACE = 'colorize_video_batch'
_MODELS = shared.Shared()  # one loaded model per worker process, whatever the number of DoFn instances


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so several commands share one process."""
  flags.DEFINE_string('input', None, 'Folder, glob or gs:// path of the videos.')
  flags.DEFINE_string('output', 'colorized', 'Output folder (local or gs://).')
  flags.DEFINE_string('model', None, "SavedModel or pushed-model folder (default: the config's push.destination).")


def output_path(output: str, relative: str) -> str:
  return FileSystems.join(output, os.path.splitext(relative)[0] + '.mp4')


def is_finished(path: str) -> bool:
  """A finished output of an earlier run: a complete MP4 (local), or an existing object (gs://: uploads are
  atomic)."""
  if '://' in path and not path.startswith('file://'):
    return FileSystems.exists(path)
  return containers.is_complete_mp4(path[len('file://'):] if path.startswith('file://') else path)


def _copy(source: str, target: str) -> None:
  with FileSystems.open(source, compression_type='uncompressed') as f, open(target, 'wb') as out:
    shutil.copyfileobj(f, out, 1 << 20)


def _upload(source: str, target: str) -> None:
  with open(source, 'rb') as f, FileSystems.create(target, mime_type='video/mp4',
                                                   compression_type='uncompressed') as out:
    shutil.copyfileobj(f, out, 1 << 20)


class _ColorizeVideoFn(beam.DoFn):
  """One video -> its MP4 (the output path), or a dead letter; nothing for a video an earlier run finished."""

  def __init__(self, root: str, output: str, model: str):
    self._root = root
    self._output = output
    self._model = model
    self._predictor = None

  def setup(self):
    # Lazy: the model stack loads in each Beam worker, not in the launching process.
    from serving.video import predictor as predictor_lib  # pylint: disable=g-import-not-at-top

    class _Holder:  # Shared needs a weak-referenceable object
      def __init__(self, model):
        self.predictor = predictor_lib.Predictor(model)

    self._predictor = _MODELS.acquire(lambda: _Holder(self._model), tag=self._model).predictor

  def process(self, uri: str):
    # Lazy: the model stack loads in each Beam worker, not in the launching process.
    from serving.video import colorize  # pylint: disable=g-import-not-at-top
    from serving.video.errors import VideoError  # pylint: disable=g-import-not-at-top
    relative = (uri[len(self._root):].lstrip('/') if self._root and uri.startswith(self._root)
                else os.path.basename(uri))
    target = output_path(self._output, relative)
    if is_finished(target):
      Metrics.counter(NAMESPACE, 'skipped').inc()
      return
    try:
      with tempfile.TemporaryDirectory(prefix='colorize-video-') as scratch:
        local_in = uri
        if '://' in uri and not uri.startswith('file://'):
          local_in = os.path.join(scratch, os.path.basename(uri))
          _copy(uri, local_in)
        remote_out = '://' in target and not target.startswith('file://')
        local_out = os.path.join(scratch, 'out.mp4') if remote_out else target
        summary = colorize.colorize_video(local_in, local_out, self._predictor)
        if remote_out:
          _upload(local_out, target)
    except VideoError as e:
      Metrics.counter(NAMESPACE, 'dead_letters').inc()
      yield beam.pvalue.TaggedOutput('dead', dead_letters.DeadLetter(uri, 'colorize', e.reason, e.sentence))
      return
    except OSError as e:
      Metrics.counter(NAMESPACE, 'dead_letters').inc()
      yield beam.pvalue.TaggedOutput('dead', dead_letters.DeadLetter(
          uri, 'colorize', errors.UNREADABLE, f'{errors.UNREADABLE}: {e.strerror or "I/O error"}'))
      return
    Metrics.counter(NAMESPACE, 'colorized').inc()
    Metrics.counter(NAMESPACE, 'frames').inc(summary.frames)
    yield target


def build(root: beam.Pipeline, input_uri: str, output: str, model: str) -> None:
  source = sources.parse_input_uri(input_uri)
  base = input_uri.rstrip('/') if '*' not in input_uri else ''
  if base and '://' not in base:
    base = os.path.abspath(base)
  uris, match_dead = root | 'Match' >> matching.MatchFiles(source.patterns, batch_size=None,
                                                           counter_namespace=NAMESPACE)
  done = uris | 'Colorize' >> beam.ParDo(_ColorizeVideoFn(base, output, model)).with_outputs('dead', main='ok')
  ((match_dead, done.dead)
   | 'AllDeadLetters' >> beam.Flatten()
   | 'CollectDeadLetters' >> beam.combiners.ToList()
   | 'WriteDeadLetters' >> beam.Map(dead_letters.write_dead_letters,
                                    FileSystems.join(output, dead_letters.DEAD_LETTERS_FILE)))


def run(input_uri: str, output: str, model: str, runner: configs.RunnerConfig,
        extra_args: Sequence[str] = ()) -> dict[str, int]:
  outputs.remove_partial_files(output)  # temporary files of a killed run (never under an output's name)
  root = beam.Pipeline(options=PipelineOptions(beam_options.beam_args(runner) + list(extra_args)))
  build(root, input_uri, output, model)
  result = root.run()
  result.wait_until_finish()
  return {c.key.metric.name: c.committed for c in result.metrics().query()['counters']
          if c.key.metric.namespace == NAMESPACE}


def main(argv: Sequence[str]) -> None:
  config = config_flags.config_from_flags()
  if not FLAGS.input:
    raise app.UsageError('--input is required')
  counters = run(FLAGS.input, FLAGS.output, FLAGS.model or config.push.destination, config.runner, argv[1:])
  print(f'{counters.get("colorized", 0)} videos colorized ({counters.get("frames", 0)} frames), '
        f'{counters.get("skipped", 0)} skipped (already done), {counters.get("dead_letters", 0)} dead letters -> '
        f'{FLAGS.output} (dead letters: {FileSystems.join(FLAGS.output, dead_letters.DEAD_LETTERS_FILE)})')


def console_main() -> None:
  define_flags()
  app.run(main)


if __name__ == '__main__':
  console_main()
