"""Colorization metrics on real photos: the gray baseline, a perfect prediction, and a desaturated one."""

import numpy as np

from contracts import colorspace
from trainer import metrics


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
