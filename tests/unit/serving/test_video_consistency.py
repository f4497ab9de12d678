"""The temporal consistency step itself, fed by a deterministic stand-in predictor that flickers (the true colour
plus a different smooth error every frame) so that what the step does is known: on a pan and on the real clip
the flicker falls and the colour stays right, L is never changed, and at a scene cut nothing is blended across."""

import cv2
import numpy as np
from PIL import Image
import pytest

from benchmarks import video_clips
from contracts import colorspace
from serving.video import colorize
from serving.video import consistency
from serving.video import flicker
from tests.conftest import sample_photo_paths

WIDTH, HEIGHT = 128, 96


class FlickeringPredictor:
  """The truth's ab (looked up by the frame's L) plus a per-frame smooth error: a model that is right on average
  and unsteady from frame to frame. Not the component under test: the consistency step is."""

  def __init__(self, labs, amplitude=8.0, seed=0):
    self._truth = {l.tobytes(): lab[..., 1:] for lab, l in ((lab, np.ascontiguousarray(lab[..., 0])) for lab in labs)}
    self._rng = np.random.default_rng(seed)
    self._amplitude = amplitude

  def predict(self, l_batch, source=''):
    del source
    out = []
    for l in l_batch:
      ab = self._truth[np.ascontiguousarray(l).tobytes()].copy()
      ys, xs = np.mgrid[0:l.shape[0], 0:l.shape[1]] / max(l.shape)
      phase = self._rng.uniform(0, 2 * np.pi, size=2)
      for c in range(2):  # a smooth error field, new every frame
        ab[..., c] += self._amplitude * (self._rng.normal() + np.sin(3 * xs + phase[c]) * np.cos(2 * ys + phase[1 - c]))
      out.append(ab.astype(np.float32))
    return np.stack(out)


def _photo(i):
  return np.asarray(Image.open(sample_photo_paths(8)[i]).convert('RGB'))


def _lab(frames):
  return colorspace.rgb8_to_lab(np.stack(frames))


def _run(labs, predictor, options=consistency.ConsistencyOptions()):
  colorizer = colorize.FrameColorizer(predictor, options)
  out = np.concatenate([colorizer.colorize(np.ascontiguousarray(labs[i:i + 8, ..., 0]))
                        for i in range(0, len(labs), 8)])
  return out, colorizer


@pytest.fixture(scope='module')
def pan():
  return _lab(video_clips.pan(_photo(2), WIDTH, HEIGHT, 24, dx=1.7, dy=0.4))


def test_flicker_falls_on_a_pan_and_the_colour_stays_right(pan):
  per_frame, _ = _run(pan, FlickeringPredictor(pan), options=None)
  steady, colorizer = _run(pan, FlickeringPredictor(pan))
  meter = flicker.FlickerMeter(list(pan[..., 0]))
  assert meter.reliable_share > 0.7
  f_per_frame, f_steady, f_truth = (meter.measure(list(x[..., 1:])) for x in (per_frame, steady, pan))
  assert f_steady < 0.5 * f_per_frame, (f_per_frame, f_steady, f_truth)
  assert f_truth < f_steady  # the truth is steadier still
  error = lambda x: float(np.abs(x[4:, ..., 1:] - pan[4:, ..., 1:]).mean())  # pylint: disable=unnecessary-lambda-assignment
  assert error(steady) < error(per_frame)  # averaging along the motion cancels part of the per-frame error
  assert colorizer.consistency.cuts == 0


def test_l_is_never_changed(pan):
  out, _ = _run(pan, FlickeringPredictor(pan))
  assert out.dtype == np.float32 and out.shape == pan.shape
  np.testing.assert_array_equal(out[..., 0], pan[..., 0])  # exactly the input's L, not a re-conversion


def test_nothing_is_blended_across_a_scene_cut():
  shot_a = video_clips.pan(_photo(0), WIDTH, HEIGHT, 10, dx=1.0)
  shot_b = video_clips.pan(_photo(5), WIDTH, HEIGHT, 10, dx=-1.0)
  labs = _lab(shot_a + shot_b)
  predictor = FlickeringPredictor(labs, amplitude=0.0)  # the truth itself: what comes out is the step's doing
  step = consistency.TemporalConsistency()
  predicted = predictor.predict(labs[..., 0])
  results = [step.step(l, ab) for l, ab in zip(labs[..., 0], predicted)]
  assert [r.cut for r in results] == [True] + [False] * 9 + [True] + [False] * 9
  assert step.cuts == 1
  np.testing.assert_array_equal(results[10].ab, predicted[10])  # the first frame after the cut: its own colour
  assert all(r.reliable_share > 0.5 for i, r in enumerate(results) if i not in (0, 10))


def test_a_cut_between_look_alike_shots_is_found_by_the_flow():
  """Two shots whose L histograms match (the same photo, mirrored): the histogram test passes them, the flow's
  reliability does not."""
  photo = _photo(3)
  labs = _lab(video_clips.pan(photo, WIDTH, HEIGHT, 6, dx=1.0) + video_clips.pan(photo[:, ::-1], WIDTH, HEIGHT, 6,
                                                                                  dx=1.0))
  step = consistency.TemporalConsistency()
  results = [step.step(l, np.zeros(l.shape + (2,), np.float32)) for l in labs[..., 0]]
  assert [i for i, r in enumerate(results) if r.cut] == [0, 6]


def test_flicker_falls_on_the_real_clip():
  """Big Buck Bunny's opening (benchmarks/clips/): a still camera, the rabbit moving and leaving its burrow, H.264
  noise; scaled to 320x180 and its first 48 frames, with the flickering stand-in predictor."""
  frames, _ = video_clips.real_clip()
  labs = _lab([cv2.resize(f, (320, 180), interpolation=cv2.INTER_AREA) for f in frames[:48]])
  per_frame, _ = _run(labs, FlickeringPredictor(labs), options=None)
  steady, colorizer = _run(labs, FlickeringPredictor(labs))
  meter = flicker.FlickerMeter(list(labs[..., 0]))
  f_per_frame, f_steady, f_truth = (meter.measure(list(x[..., 1:])) for x in (per_frame, steady, labs))
  assert f_steady < 0.5 * f_per_frame, (f_per_frame, f_steady, f_truth)
  error = lambda x: float(np.abs(x[4:, ..., 1:] - labs[4:, ..., 1:]).mean())  # pylint: disable=unnecessary-lambda-assignment
  assert error(steady) < error(per_frame)
  assert colorizer.consistency.cuts == 0  # one shot
