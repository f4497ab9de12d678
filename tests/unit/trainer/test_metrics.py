"""Colorization metrics on real photos: the gray baseline, a perfect prediction, and a desaturated one."""

import numpy as np

from contracts import colorspace
from trainer.objective import metrics


def test_metrics_separate_gray_from_colour(sample_rgb):
  labs = [colorspace.rgb8_to_lab(rgb) for rgb in sample_rgb]
  gray = metrics.evaluate(labs, [np.zeros_like(lab[..., 1:]) for lab in labs])
  assert gray.images == len([lab for lab in labs if metrics.is_coloured(lab)]) > 0
  assert gray.delta_psnr == 0.0
  assert 15 < gray.psnr_gray < 40
  assert gray.colourfulness < 1.0 < gray.colourfulness_true  # no colour at all
  assert gray.desaturation_rate == 1.0

  perfect = metrics.evaluate(labs, [lab[..., 1:] for lab in labs])
  assert perfect.delta_psnr > 10
  assert perfect.delta_colourfulness < 1.0 and abs(perfect.colourfulness_ratio - 1) < 0.01
  assert perfect.desaturation_rate == 0.0

  washed_out = metrics.evaluate(labs, [0.2 * lab[..., 1:] for lab in labs])  # "brown and washed out"
  assert 0 < washed_out.delta_psnr < perfect.delta_psnr
  assert washed_out.colourfulness_ratio < 0.5
  assert washed_out.desaturation_rate > 0.5


def test_colourfulness_and_psnr_definitions():
  flat = np.full((8, 8, 3), 128, np.uint8)
  assert metrics.colourfulness(flat) == 0.0
  red = np.zeros((8, 8, 3), np.uint8)
  red[..., 0] = 255
  # rg = 255, yb = 127.5 everywhere: CF = 0.3 * sqrt(255^2 + 127.5^2).
  assert abs(metrics.colourfulness(red) - 0.3 * np.hypot(255, 127.5)) < 1e-9
  assert metrics.psnr(flat, flat) == metrics.MAX_PSNR
  off_by_one = flat + 1
  assert abs(metrics.psnr(off_by_one, flat) - 10 * np.log10(255 ** 2)) < 1e-9


def test_rebalanced_ab_accuracy_separates_gray_from_colour(sample_rgb):
  labs = [colorspace.rgb8_to_lab(rgb[:64, :64]) for rgb in sample_rgb]
  frequency = metrics.bin_frequencies(labs)
  score = lambda scale: np.mean([metrics.rebalanced_ab_accuracy(lab[..., 1:], scale * lab[..., 1:], frequency)
                                 for lab in labs])
  gray, half, perfect = score(0.0), score(0.5), score(1.0)
  assert perfect == 1.0
  assert gray < half < perfect


def test_hue_balanced_recall_gray_truth_and_a_constant_tint(sample_rgb):
  labs = [colorspace.rgb8_to_lab(rgb) for rgb in sample_rgb]
  truth = [lab[..., 1:] for lab in labs]
  # Every hue present: a wheel of saturated colours, so all six sectors have truly coloured pixels.
  angles = np.radians(np.arange(360, dtype=np.float64))
  wheel = np.stack([40 * np.cos(angles), 40 * np.sin(angles)], -1).reshape(18, 20, 2)
  truth.append(wheel)
  gray, gray_sectors = metrics.hue_balanced_recall(truth, [np.zeros_like(ab) for ab in truth])
  assert gray == 0.0 and gray_sectors == [0.0] * 6
  perfect, perfect_sectors = metrics.hue_balanced_recall(truth, truth)
  assert perfect == 1.0 and perfect_sectors == [1.0] * 6
  sepia, sepia_sectors = metrics.hue_balanced_recall(truth, [np.broadcast_to([6.0, 18.0], ab.shape) for ab in truth])
  assert 0 < sepia < 0.5
  assert sum(r > 0 for r in sepia_sectors) <= 2  # a constant hue can only be right near that hue
  assert sepia_sectors[1] > 0  # sepia's hue (atan2(18, 6) = 72 degrees) is in the 60-120 sector


def test_hue_balanced_recall_definition():
  recall = metrics.HueRecall()
  truth = np.array([[[30.0, 0.0], [30.0, 0.0], [0.0, 30.0], [5.0, 5.0]]])  # hues 0, 0, 90; the last not coloured
  prediction = np.array([[[20.0, 10.0], [3.0, 0.0], [-10.0, 10.0], [0.0, 0.0]]])
  recall.add(truth, prediction)
  # Sector 0: hue 26.6 deg is within 30 of 0 (hit); chroma 3 < 10 (miss). Sector 1: hue 135 vs 90 (miss).
  assert list(recall.totals) == [2, 1, 0, 0, 0, 0]
  assert list(recall.hits) == [1, 0, 0, 0, 0, 0]
  assert recall.mean() == 0.25  # mean over the sectors with pixels: (0.5 + 0) / 2
  assert np.isnan(recall.sectors()[2])


def test_hue_recall_interval_is_the_spread_over_photos():
  angles = np.radians(np.arange(360, dtype=np.float64))
  wheel = np.stack([40 * np.cos(angles), 40 * np.sin(angles)], -1).reshape(18, 20, 2)
  # Every photo the same and coloured right: no spread, every bound is 1.
  perfect = metrics.hue_recall_interval([wheel] * 8, [wheel] * 8, resamples=200)
  assert perfect['hue_recall'] == [1.0, 1.0] and perfect['sectors'] == [[1.0, 1.0]] * 6
  # Half the photos right, half left gray: the pooled recall is 0.5 and the interval straddles it, inside [0, 1].
  recall = metrics.HueRecall()
  for i in range(20):
    recall.add(wheel, wheel if i % 2 else np.zeros_like(wheel))
  bounds = recall.interval(level=0.9, resamples=500, seed=1)
  assert recall.mean() == 0.5
  low, high = bounds['hue_recall']
  assert 0.2 < low < 0.5 < high < 0.8
  assert all(0.0 <= lo < 0.5 < hi <= 1.0 for lo, hi in bounds['sectors'])
  assert recall.interval(level=0.9, resamples=500, seed=1) == bounds  # reproducible for a seed
  narrower = recall.interval(level=0.5, resamples=500, seed=1)['hue_recall']
  assert low < narrower[0] and narrower[1] < high


def test_scoring_reports_the_interval_only_when_asked(sample_rgb):
  from components.colorization_evaluator import scoring
  from contracts import schema
  records = [{schema.LAB: colorspace.rgb8_to_lab(rgb[:32, :32]).astype(np.float32)} for rgb in sample_rgb]
  truth = lambda l: np.stack([r[schema.LAB][..., 1:] for r in records])[:len(l)]
  plain, _ = scoring.score(truth, records)
  report, _ = scoring.score(truth, records, interval=True)
  assert 'hue_recall_interval' not in plain
  assert report['hue_recall_interval'][0] <= report['hue_recall'] <= report['hue_recall_interval'][1]
  assert len(report['hue_recall_sectors_interval']) == 6
  sepia = scoring.score_references(records, interval=True)['sepia']
  assert sepia['hue_recall_interval'][1] < 0.5
