"""`colorize-video`: colorize an old film (or any video) with a pushed model, without flicker.

    colorize-video old_film.mp4 old_film_colour.mp4 --model=outputs/serving_model
    colorize-video reel.mkv out/ --model=outputs/serving_model/1796640787    # -> out/reel.mp4
    colorize-video frames/ film.mp4 --fps=18                                 # a folder of numbered frames
    colorize-video clip.avi clip.mp4 --noconsistency                         # per-frame colour (flickers)

Reads MP4/H.264, MKV, AVI, WebM, MOV and what else FFmpeg demuxes, or a folder of numbered frame images; writes an
MP4 (H.264, yuv420p) at the source's frame rate and size with its sound (copied, or re-encoded as AAC). Colour is
predicted frame by frame (in batches), then made consistent across frames along the optical flow
(`serving.video.consistency`); the output's luminance is the input's. A colour input is converted to L first (a
note says so). The output appears under its name only when complete. The terminal shows a progress bar (frames,
frames/s), notes and a summary; framework logs go to `--framework_log_dir` (`--verbose`: to the terminal). A bad
input ends with one line naming the file and the reason (`FAILED reel.mkv: truncated: the file ends before the video
does (...)`) and exit status 1.
"""

from __future__ import annotations

import fractions
import os
from typing import Sequence

from absl import app
from absl import flags

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so several commands share one process."""
  from serving.video import consistency  # pylint: disable=g-import-not-at-top  # NumPy and OpenCV only
  defaults = consistency.ConsistencyOptions()
  flags.DEFINE_string('model', None, 'SavedModel folder, or a pushed-model folder (newest version). Default: the '
                      "config's push.destination.")
  flags.DEFINE_bool('consistency', True, 'Make the colour consistent across frames (off: per-frame colour).')
  flags.DEFINE_float('blend', defaults.blend, 'Weight of the colour carried along the flow where it is reliable '
                     '(0: per frame; closer to 1: steadier, slower to follow the model).', lower_bound=0.0,
                     upper_bound=1.0)
  flags.DEFINE_integer('flow_max_side', defaults.flow_max_side, 'Optical flow is computed on L scaled to this '
                       'longer side (speed).', lower_bound=16)
  flags.DEFINE_integer('batch_size', 8, 'Frames per model call.', lower_bound=1)
  flags.DEFINE_string('fps', '24', 'Frame rate of a folder of frames (e.g. 24, 18, 30000/1001).')
  flags.DEFINE_integer('crf', None, "x264's quality, 0-51 (lower: better, larger; default: "
                       'serving.video.writer.DEFAULT_CRF, 18).', lower_bound=0, upper_bound=51)
  flags.DEFINE_string('framework_log_dir', os.path.join('outputs', 'logs'), 'Where the framework logs go.')
  flags.DEFINE_bool('verbose', False, 'Framework logs (TensorFlow, abseil, FFmpeg) on the terminal instead of in '
                    '--framework_log_dir.')


def output_path(source: str, target: str) -> str:
  """`target`, or `<target>/<source name>.mp4` when it is a folder (an existing one, or a name ending in /)."""
  if target.endswith('/') or os.path.isdir(target):
    return os.path.join(target, os.path.splitext(os.path.basename(source.rstrip('/')))[0] + '.mp4')
  return target


def run(source: str, target: str, model: str, terminal) -> int:
  """Colorizes one video with a progress bar on `terminal`; returns the exit status."""
  # Lazy: loaded after the terminal captures fds 1/2, so TensorFlow's start-up banners go to the log.
  import tqdm  # pylint: disable=g-import-not-at-top
  from serving import model_store  # pylint: disable=g-import-not-at-top
  from serving.video import colorize  # pylint: disable=g-import-not-at-top
  from serving.video import consistency  # pylint: disable=g-import-not-at-top
  from serving.video import predictor as predictor_lib  # pylint: disable=g-import-not-at-top
  from serving.video.errors import VideoError  # pylint: disable=g-import-not-at-top
  output = output_path(source, target)
  try:
    predictor = predictor_lib.Predictor(model)
  except model_store.ModelNotFound as e:
    terminal.print(f'FAILED: no model: {e}')
    return 1
  terminal.print(f'Model: {predictor.model_dir}')
  options = colorize.Options(
      consistency=(consistency.ConsistencyOptions(blend=FLAGS.blend, flow_max_side=FLAGS.flow_max_side)
                   if FLAGS.consistency else None),
      batch_size=FLAGS.batch_size, folder_rate=fractions.Fraction(FLAGS.fps),
      **({'crf': FLAGS.crf} if FLAGS.crf is not None else {}))
  bar = None

  def start(info) -> None:
    nonlocal bar
    audio = ', '.join(info.audio) or 'no audio'
    terminal.print(f'{source}: {info.width}x{info.height}, {float(info.rate):.3g} frames/s, {info.codec} in '
                   f'{info.container}, {audio}')
    bar = tqdm.tqdm(total=info.frames, desc='colorizing', unit='frame', file=terminal.stream, dynamic_ncols=True)

  def note(text: str) -> None:
    if bar is not None:
      bar.write(f'note: {text}', file=terminal.stream)
    else:
      terminal.print(f'note: {text}')

  try:
    summary = colorize.colorize_video(source, output, predictor, options, progress=lambda n: bar.update(n),
                                      note=note, on_start=start)
  except VideoError as e:
    if bar is not None:
      bar.close()
    terminal.print(f'FAILED {source}: {e.sentence}')
    return 1
  bar.close()
  model_fps = summary.frames / summary.model_s if summary.model_s else 0.0
  step = (f', consistency {summary.frames / summary.consistency_s:.0f} frames/s, {summary.cuts} scene cuts'
          if summary.consistency_s else ', per-frame colour')
  terminal.print(f'{summary.frames} frames colorized in {summary.seconds:.1f} s ({summary.fps:.1f} frames/s; '
                 f'model {model_fps:.1f} frames/s{step}); audio: {summary.audio} -> {output}')
  return 0


def main(argv: Sequence[str]) -> None:
  if len(argv) != 3:
    raise app.UsageError('give the input video (or frame folder) and the output MP4: colorize-video IN OUT')
  # Lazy: see `run`; the quieting must precede TensorFlow's import.
  from serving.video import terminal as terminal_lib  # pylint: disable=g-import-not-at-top
  with terminal_lib.Terminal('colorize-video', FLAGS.framework_log_dir, capture=not FLAGS.verbose) as terminal:
    from configs import flags as config_flags  # pylint: disable=g-import-not-at-top
    model = FLAGS.model or config_flags.config_from_flags().push.destination
    status = run(argv[1], argv[2], model, terminal)
    if terminal.log_path:
      terminal.print(f'Full log: {terminal.log_path}')
  raise SystemExit(status)


def console_main() -> None:
  define_flags()
  app.run(main)


if __name__ == '__main__':
  console_main()
