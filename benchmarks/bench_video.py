"""Colorizing film without flicker: per-frame colour vs the temporal consistency step, with its defaults checked on
one set of clips and measured on others.

    .venv/bin/python -m benchmarks.bench_video --model=outputs/serving_model

Clips (benchmarks/video_clips.py), 640x480 unless said:
* tuning: three pan shots (right; left-down; right-up) of the three most colourful photos, joined by two cuts. A
  grid of `ConsistencyOptions` (blend x fb_tolerance_px x l_tolerance: benchmarks/video_tuning.py) is run on it, and
  `video_tuning.pick` chooses the setting with the least flicker among those that keep hue recall within 1 point
  and PSNR within 0.1 dB of per-frame's;
* held-out: three zoom shots (in 0.6 %, out 0.5 %, in 0.9 % per frame) of the next three photos, two cuts; and
  the real clip, Big Buck Bunny's first 5.3 s at 1280x720 (benchmarks/clips/README.md: source, CC BY 3.0). The
  defaults and the tuning pick are measured there, never chosen there.

On every clip:
* flicker (video/flicker.py): the mean Euclidean distance |ab_t(x) - ab_{t-1}(x + flow(x))| over the pixels x where
  the flow, computed on the TRUE L at full resolution, is reliable, frame pairs across a cut left out; for the
  per-frame colorization, the consistent output and the original colour clip itself (the floor);
* colour against the original, every frame: hue-balanced recall and PSNR (trainer/objective/metrics.py).
Then speed on this machine's cores: frames/s of `colorize-video`'s whole path (decode, Lab, model, consistency,
encode) on MP4 files of an old film (the held-out clip in gray) at 480p and 720p, of the colour clip at 480p and of
the real clip's own file, with the model's and the consistency step's shares; and a picture (`--strip`): frames
of the held-out clips, one row per method (per-frame, consistent, original).

Targets (on each held-out clip, with the defaults): consistent flicker <= 0.5x per-frame's and <= 1.5x the
original's; hue recall within 2 points of per-frame's; >= 5 frames/s at 480p. The JSON says, for each, whether it
was met.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import tempfile
import time
from typing import Sequence

from absl import app
from absl import flags
import numpy as np
from PIL import Image

FLAGS = flags.FLAGS
flags.DEFINE_string('model', '', 'SavedModel or pushed-model folder (default: the newest version in '
                    'outputs/serving_model, which `make demo` pushes).')
flags.DEFINE_string('photos', 'sample_photos', 'Folder of colour photos (one per shot, the most colourful).')
flags.DEFINE_integer('frames_per_shot', 24, 'Frames in each shot of the photo clips.')
flags.DEFINE_string('output', 'benchmarks/results/video.json', 'Where the JSON results go.')
flags.DEFINE_string('strip', 'benchmarks/results/video_strip.jpg', 'Where the picture goes.')

SIZES = {'480p': (640, 480), '720p': (1280, 720)}
SHOTS = 3


def default_model() -> str:
  pushed = sorted(glob.glob('outputs/serving_model/*/saved_model.pb'))
  if pushed:
    return os.path.dirname(max(pushed, key=lambda p: int(os.path.basename(os.path.dirname(p)))))
  raise app.UsageError('no pushed model in outputs/serving_model: run `make demo` or give --model')


def colourful_photos(folder: str, count: int) -> tuple[list[str], list[np.ndarray]]:
  """The `count` most colourful of every 25th photo (by Hasler-Suesstrunk colourfulness), at least 200 px wide."""
  from trainer.objective import metrics  # pylint: disable=g-import-not-at-top
  scored = []
  for path in sorted(glob.glob(os.path.join(folder, '*', '*.jpg')))[::25]:
    rgb = np.asarray(Image.open(path).convert('RGB'))
    if rgb.shape[1] >= 200 and rgb.shape[0] >= 150:
      scored.append((metrics.colourfulness(rgb), path, rgb))
  scored.sort(key=lambda s: -s[0])
  return [p for _, p, _ in scored[:count]], [r for _, _, r in scored[:count]]


def predict_all(predictor, l_frames: np.ndarray, batch: int) -> tuple[np.ndarray, float]:
  predictor.predict(l_frames[:batch])  # the graph traced for this shape before timing
  start = time.perf_counter()
  ab = np.concatenate([predictor.predict(l_frames[i:i + batch]) for i in range(0, len(l_frames), batch)])
  return ab, time.perf_counter() - start


def make_consistent(l_frames: np.ndarray, ab_frames: np.ndarray, options) -> tuple[np.ndarray, float, int]:
  from serving.video import consistency  # pylint: disable=g-import-not-at-top
  step = consistency.TemporalConsistency(options)
  start = time.perf_counter()
  out = np.stack([step.step(l, ab).ab for l, ab in zip(l_frames, ab_frames)])
  return out, time.perf_counter() - start, step.cuts


@dataclasses.dataclass
class Measured:
  """One clip with its truth, the model's per-frame colour and the flicker meter built on its true L."""
  lab: np.ndarray         # float32 [T, H, W, 3], the original
  ab_per_frame: np.ndarray
  model_s: float
  meter: object           # flicker.FlickerMeter
  truths: list            # metrics.prepare(lab)

  def scores(self, ab_frames: np.ndarray) -> dict[str, float]:
    from trainer.objective import metrics  # pylint: disable=g-import-not-at-top
    report = metrics.evaluate(self.truths, list(ab_frames))
    return {'flicker': self.meter.measure(list(ab_frames)), 'hue_recall': report.hue_recall, 'psnr': report.psnr,
            'colourfulness_ratio': report.colourfulness_ratio}


def measure_clip(predictor, frames: list[np.ndarray], cuts: list[int]) -> Measured:
  from contracts import colorspace  # pylint: disable=g-import-not-at-top
  from serving.video import colorize  # pylint: disable=g-import-not-at-top
  from serving.video import flicker  # pylint: disable=g-import-not-at-top
  from trainer.objective import metrics  # pylint: disable=g-import-not-at-top
  lab = colorspace.rgb8_to_lab(np.stack(frames)).astype(np.float32)
  l_true = np.ascontiguousarray(lab[..., 0])
  ab, model_s = predict_all(predictor, l_true, colorize.DEFAULT_BATCH)
  return Measured(lab, ab, model_s, flicker.FlickerMeter(list(l_true), new_scenes=cuts), metrics.prepare(list(lab)))


def tune(clip: Measured) -> list[dict[str, float]]:
  """Every setting of video_tuning.GRID on the tuning clip: the setting with its scores."""
  from benchmarks import video_tuning  # pylint: disable=g-import-not-at-top
  rows = []
  settings = video_tuning.settings()
  for i, setting in enumerate(settings):
    ab, _, _ = make_consistent(clip.lab[..., 0], clip.ab_per_frame, video_tuning.options_of(setting))
    rows.append({**setting, **clip.scores(ab)})
    print(f'tuning: {i + 1}/{len(settings)} settings', flush=True)
  return rows


def film(frames: list[np.ndarray]) -> list[np.ndarray]:
  """What an old film decodes to: gray frames (R = G = B), the photos' luma."""
  return [np.repeat(np.asarray(Image.fromarray(f).convert('L'))[..., None], 3, axis=-1) for f in frames]


def end_to_end_speed(predictor, frames: list[np.ndarray] | None, folder: str, name: str,
                     source: str = '') -> dict[str, float]:
  """frames/s of `colorize_video` on an MP4 of `frames` (with sound), or on the file `source`, and its model /
  consistency shares."""
  from benchmarks import video_clips  # pylint: disable=g-import-not-at-top
  from serving.video import colorize  # pylint: disable=g-import-not-at-top
  from serving.video import reader  # pylint: disable=g-import-not-at-top
  output = os.path.join(folder, f'{name}_colorized.mp4')
  if not source:
    source = os.path.join(folder, f'{name}.mp4')
    video_clips.write_mp4(source, frames, 24)
  opened = reader.open_video(source)
  size = (opened.info.height, opened.info.width)
  opened.close()
  l = np.zeros((colorize.DEFAULT_BATCH,) + size, np.float32)
  predictor.predict(l)  # traced for this size before timing
  summary = colorize.colorize_video(source, output, predictor)
  return {'frames': summary.frames, 'frames_per_s': summary.fps, 'seconds': summary.seconds,
          'model_frames_per_s': summary.frames / summary.model_s,
          'consistency_frames_per_s': summary.frames / summary.consistency_s,
          'audio': summary.audio, 'cuts_found': summary.cuts}


def draw_strip(title: str, rows: list[tuple[str, Sequence[np.ndarray]]], columns: Sequence[int],
               width: int = 213) -> np.ndarray:
  """A titled block: one row per method, the chosen frames side by side, each labelled."""
  import cv2  # pylint: disable=g-import-not-at-top
  from PIL import Image, ImageDraw  # pylint: disable=g-import-not-at-top
  lines = []
  for name, rgb_frames in rows:
    cells = []
    for t in columns:
      frame = rgb_frames[t]
      cell = cv2.resize(frame, (width, int(round(frame.shape[0] * width / frame.shape[1]))),
                        interpolation=cv2.INTER_AREA)
      cells.append(np.pad(cell, ((0, 2), (0, 2), (0, 0)), constant_values=255))
    label = np.full((cells[0].shape[0], 90, 3), 255, np.uint8)
    line = Image.fromarray(np.concatenate([label] + cells, axis=1))
    ImageDraw.Draw(line).text((4, cells[0].shape[0] // 2 - 6), name, fill=(0, 0, 0))
    lines.append(np.asarray(line))
  header = Image.new('RGB', (lines[0].shape[1], 28), (255, 255, 255))
  ImageDraw.Draw(header).text((4, 1), title, fill=(0, 0, 0))
  for i, t in enumerate(columns):
    ImageDraw.Draw(header).text((90 + i * (width + 2) + 4, 15), f'frame {t}', fill=(0, 0, 0))
  return np.concatenate([np.asarray(header)] + lines, axis=0)


def strip_rows(clip: Measured, consistent: np.ndarray, columns: Sequence[int]) -> list[tuple[str, list[np.ndarray]]]:
  """(method, its RGB frames at `columns`) for per-frame, consistent and original colour (other frames: None)."""
  from contracts import colorspace  # pylint: disable=g-import-not-at-top
  methods = (('per-frame', clip.ab_per_frame), ('consistent', consistent), ('original', clip.lab[..., 1:]))

  def rgb(t: int, ab: np.ndarray) -> np.ndarray | None:
    return colorspace.lab_to_rgb8(np.concatenate([clip.lab[t, ..., :1], ab[t]], -1)) if t in columns else None

  return [(name, [rgb(t, ab) for t in range(len(clip.lab))]) for name, ab in methods]


def main(argv: Sequence[str]) -> None:
  del argv
  from benchmarks import video_clips  # pylint: disable=g-import-not-at-top
  from benchmarks import video_tuning  # pylint: disable=g-import-not-at-top
  from serving.video import consistency  # pylint: disable=g-import-not-at-top
  from serving.video import predictor as predictor_lib  # pylint: disable=g-import-not-at-top
  started = time.perf_counter()
  load_at_start = list(os.getloadavg())
  model = FLAGS.model or default_model()
  predictor = predictor_lib.Predictor(model)
  names, photos = colourful_photos(FLAGS.photos, 2 * SHOTS)
  width, height = SIZES['480p']
  shot = FLAGS.frames_per_shot
  defaults = video_tuning.setting_of(consistency.ConsistencyOptions())

  # Tuning: the pans. The grid's figures here choose a setting; they are not the ones reported as the step's.
  frames, cuts = video_clips.shots(photos[:SHOTS], width, height, shot, video_clips.PANS)
  tuning = measure_clip(predictor, frames, cuts)
  tuning_per_frame = tuning.scores(tuning.ab_per_frame)
  grid = tune(tuning)
  chosen = video_tuning.pick(grid, tuning_per_frame)
  tuned = {k: chosen[k] for k in video_tuning.TUNED}
  clips = {'tuning_pans': {'role': 'tuning', 'size': [width, height], 'frames': len(frames), 'cuts': cuts,
                           'shots': [m.name for m in video_clips.PANS], 'photos': names[:SHOTS],
                           'flicker_reliable_share': tuning.meter.reliable_share}}
  at_defaults = next(r for r in grid if all(r[k] == defaults[k] for k in video_tuning.TUNED))
  results = {'tuning_pans': {'per_frame': tuning_per_frame,
                             'original_flicker': tuning.meter.measure(list(tuning.lab[..., 1:])),
                             'defaults': at_defaults, 'tuning_pick': chosen}}
  del tuning

  # Held-out: the zooms of other photos, and the real clip. Measured with the defaults and with the tuning pick.
  zoom_frames, zoom_cuts = video_clips.shots(photos[SHOTS:], width, height, shot, video_clips.ZOOMS)
  real_frames, real_rate = video_clips.real_clip()
  real = video_clips.REAL_CLIP
  zoom_columns = [t for start in [0] + zoom_cuts for t in (start + 2, start + shot - 3)]
  held_out = {'held_out_zooms': (zoom_frames, zoom_cuts, zoom_columns),
              'held_out_real': (real_frames, [], [5, 30, 55, 80, 105, len(real_frames) - 4])}
  clips['held_out_zooms'] = {'role': 'held-out', 'size': [width, height], 'frames': len(zoom_frames),
                             'cuts': zoom_cuts, 'shots': [m.name for m in video_clips.ZOOMS],
                             'photos': names[SHOTS:]}
  clips['held_out_real'] = {'role': 'held-out', 'size': list(real_frames[0].shape[1::-1]),
                            'frames': len(real_frames), 'cuts': [], 'frames_per_s': float(real_rate),
                            'file': real.path, 'sha256': real.sha256, 'title': real.title, 'source': real.source,
                            'licence': real.licence, 'attribution': real.attribution}
  strips = []
  for name, (clip_frames, clip_cuts, columns) in held_out.items():
    clip = measure_clip(predictor, clip_frames, clip_cuts)
    clips[name]['flicker_reliable_share'] = clip.meter.reliable_share
    ab_defaults, seconds, cuts_found = make_consistent(clip.lab[..., 0], clip.ab_per_frame,
                                                       consistency.ConsistencyOptions())
    clips[name]['cuts_found_by_consistency'] = cuts_found
    clips[name]['consistency_frames_per_s'] = len(clip_frames) / seconds
    entry = {'per_frame': clip.scores(clip.ab_per_frame),
             'original_flicker': clip.meter.measure(list(clip.lab[..., 1:])), 'defaults': clip.scores(ab_defaults)}
    if tuned != defaults:
      entry['tuning_pick'] = clip.scores(make_consistent(clip.lab[..., 0], clip.ab_per_frame,
                                                          video_tuning.options_of(tuned))[0])
    entry['targets'] = video_tuning.targets(entry['per_frame'], entry['defaults'], entry['original_flicker'])
    results[name] = entry
    title = (f'{name}: {", ".join(clips[name]["shots"])}' if 'shots' in clips[name]
             else f'{name}: {real.title.split(",")[0]} ({real.attribution}, {real.licence})')
    strips.append(draw_strip(title, strip_rows(clip, ab_defaults, columns), columns))
    print(f'{name}: measured', flush=True)
    del clip, ab_defaults
  held_out_names = list(held_out)
  del held_out, real_frames, clip_frames  # the real clip's frames: 0.4 GB

  with tempfile.TemporaryDirectory() as folder:  # old films (gray), a colour clip, the real clip's own file
    speed = {'480p': end_to_end_speed(predictor, film(zoom_frames), folder, '480p')}
    frames_720, _ = video_clips.shots(photos[SHOTS:], *SIZES['720p'], max(8, (2 * shot) // 3), video_clips.ZOOMS)
    speed['720p'] = end_to_end_speed(predictor, film(frames_720), folder, '720p')
    speed['480p_colour_input'] = end_to_end_speed(predictor, zoom_frames, folder, '480p_colour')
    speed['720p_real_clip'] = end_to_end_speed(predictor, None, folder, 'real', source=real.path)

  os.makedirs(os.path.dirname(FLAGS.strip) or '.', exist_ok=True)
  width_px = max(block.shape[1] for block in strips)
  Image.fromarray(np.concatenate([np.pad(b, ((0, 6), (0, width_px - b.shape[1]), (0, 0)), constant_values=255)
                                  for b in strips])).save(FLAGS.strip, quality=90)  # JPEG: photos

  targets_met = {name: results[name]['targets'] for name in held_out_names}
  targets_met['480p_frames_per_s'] = {'value': speed['480p']['frames_per_s'], 'target': '>= 5',
                                      'met': speed['480p']['frames_per_s'] >= 5.0}
  report = {
      'model': model,
      'cpus': os.cpu_count(),
      'load_average_at_start': load_at_start,  # the cores are shared: other jobs' load slows every figure
      'defaults': defaults,
      'tuning': {'clip': 'tuning_pans', 'grid': video_tuning.GRID,
                 'hue_margin_points': video_tuning.HUE_MARGIN_POINTS, 'psnr_margin_db': video_tuning.PSNR_MARGIN_DB,
                 'pick': tuned, 'pick_is_the_defaults': tuned == defaults, 'rows': grid},
      'clips': clips,
      'results': results,
      'speed': speed,
      'targets': targets_met,
      'seconds': time.perf_counter() - started,
  }
  os.makedirs(os.path.dirname(FLAGS.output) or '.', exist_ok=True)
  with open(FLAGS.output, 'w') as f:
    json.dump(report, f, indent=2)
  print(json.dumps({'defaults': defaults, 'tuning_pick': tuned, 'results': results, 'speed': speed}, indent=2))


if __name__ == '__main__':
  app.run(main)
