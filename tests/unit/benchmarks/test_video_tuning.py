"""benchmarks/video_tuning.py: the rule that picks the consistency step's setting on the tuning clip, and the
targets the held-out clips are held to."""

import pytest

from benchmarks import video_tuning
from serving.video import consistency

PER_FRAME = {'flicker': 2.0, 'hue_recall': 0.30, 'psnr': 20.0}


def _row(blend, flicker, hue_recall=0.30, psnr=20.0):
  return {'blend': blend, 'fb_tolerance_px': 1.5, 'l_tolerance': 8.0, 'flicker': flicker, 'hue_recall': hue_recall,
          'psnr': psnr}


def test_the_least_flicker_among_the_settings_that_keep_the_colour():
  rows = [_row(0.5, 1.0), _row(0.8, 0.5, hue_recall=0.295), _row(0.9, 0.3, hue_recall=0.285),  # -1.5 points: out
          _row(0.95, 0.2, psnr=19.8),  # -0.2 dB: out
          _row(0.7, 0.6, psnr=20.5)]
  assert video_tuning.pick(rows, PER_FRAME)['blend'] == 0.8


def test_no_acceptable_setting_is_an_error():
  with pytest.raises(ValueError, match='no setting of the grid'):
    video_tuning.pick([_row(0.9, 0.3, hue_recall=0.2)], PER_FRAME)


def test_the_grid_holds_the_defaults_and_builds_options():
  defaults = video_tuning.setting_of(consistency.ConsistencyOptions())
  assert defaults in video_tuning.settings()
  assert len(video_tuning.settings()) == 45
  options = video_tuning.options_of({'blend': 0.7, 'fb_tolerance_px': 3.0, 'l_tolerance': 4.0})
  assert (options.blend, options.fb_tolerance_px, options.l_tolerance) == (0.7, 3.0, 4.0)
  assert options.flow_max_side == consistency.ConsistencyOptions().flow_max_side  # the rest: the defaults


def test_targets():
  met = video_tuning.targets(PER_FRAME, {'flicker': 0.5, 'hue_recall': 0.29}, original_flicker=0.4)
  assert {k: v['met'] for k, v in met.items()} == {'consistent_flicker_vs_per_frame': True,
                                                    'consistent_flicker_vs_original': True,
                                                    'hue_recall_points_vs_per_frame': True}
  assert met['consistent_flicker_vs_original']['ratio'] == pytest.approx(1.25)
  assert met['hue_recall_points_vs_per_frame']['difference'] == pytest.approx(-1.0)
  missed = video_tuning.targets(PER_FRAME, {'flicker': 1.2, 'hue_recall': 0.27}, original_flicker=0.4)
  assert not any(v['met'] for v in missed.values())
