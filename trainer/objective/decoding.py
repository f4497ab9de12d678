"""Choosing how a colorizer's output becomes ab, on the eval split, after training.

Classification, two knobs, both measured rather than fixed by eye:
- the annealed-mean temperature T, softmax(logits / T) averaged over the bin centres: a low T takes the mode
  (vivid, sometimes patchy and wrong), T = 1 the mean (safe, brown); Zhang et al. fixed T = 0.38 by eye;
- the prior correction s: logits + s x log(rebalancing weight) (`color_bins.prior_logit_bias`), which lets the
  rare colours of the training photos (green, cyan, purple) win where the network hesitates between them and the
  common browns; s = 0 leaves the distribution as the network predicts it.
Regression, one knob: a chroma gain g, ab x g. The saturation-seeking losses (`l1_chroma`'s 1.2x chroma target,
class-rebalanced regression) overshoot on purpose; g < 1 takes back what costs fidelity, g > 1 adds to a dull model.

Criterion: among the candidates whose ΔPSNR against gray is >= -`model.decoding.max_psnr_cost` (0 by default:
the colours add something rather than cost fidelity), the one with the highest hue-balanced recall (the colour is
the right one, every hue sector counting the same); candidates within `model.decoding.hue_tolerance` of that
recall tie, and the tie goes to the best ΔPSNR (a regression's hue recall creeps up with its gain by less than the
noise of a small eval split, while each gain step costs PSNR); when none qualifies, the one with the best ΔPSNR.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Iterable

import numpy as np

from trainer import scaling
from trainer.objective import metrics


@dataclasses.dataclass
class Choice:
  knobs: dict[str, float]  # the chosen candidate, e.g. {'temperature': 0.46, 'prior_correction': -0.1}
  # per candidate: its knobs, delta_psnr, hue_recall(_sectors), colourfulness_ratio
  table: list[dict[str, float]]


def bins_candidates(temperatures: Iterable[float], prior_corrections: Iterable[float]) -> list[dict[str, float]]:
  """Every (temperature, prior correction) pair; no correction tried when none is listed."""
  return [{'temperature': float(t), 'prior_correction': float(s)}
          for t, s in itertools.product(temperatures, list(prior_corrections) or [0.0])]


def choose(candidates: list[dict[str, float]], batches: Iterable, output_fn: Callable, decode_fn: Callable,
           max_psnr_cost: float = 0.0, hue_tolerance: float = 0.0, max_examples: int = 512) -> Choice:
  """Scores every candidate decoding on eval batches and picks one (criterion above).

  Args:
    candidates: The decodings to try, each a dict of keyword arguments for `decode_fn`.
    batches: Eval batches (features, targets) as `trainer.input.data.make_dataset` yields them (scaled L, ab).
    output_fn: features -> the model's output (bin logits, or scaled ab).
    decode_fn: (output, **candidate) -> ab in ab units at the model's size.
    max_psnr_cost: How many dB of PSNR against gray the chosen decoding may cost (`model.*`).
    hue_tolerance: Hue recalls this close to the best are a tie, settled by ΔPSNR (`model.decoding.hue_tolerance`).
    max_examples: Eval examples used.
  """
  outputs, labs, seen = [], [], 0
  for features, targets in batches:
    outputs.append(output_fn(features))
    l = scaling.unscale_l(features['l'].numpy())
    ab = scaling.unscale_ab(targets['ab'].numpy())
    labs.extend(np.concatenate([l, ab], -1))
    seen += len(l)
    if seen >= max_examples:
      break
  truths = metrics.prepare(labs)  # the truth's side of every metric, once for all candidates
  table = []
  for candidate in candidates:
    predictions = [ab for chunk in outputs for ab in np.asarray(decode_fn(chunk, **candidate))]
    report = metrics.evaluate(truths, predictions)
    table.append({**{k: float(v) for k, v in candidate.items()},
                  'delta_psnr': report.delta_psnr, 'hue_recall': report.hue_recall,
                  'hue_recall_sectors': report.hue_recall_sectors,
                  'colourfulness_ratio': report.colourfulness_ratio})
  best = pick(table, max_psnr_cost, hue_tolerance)
  return Choice({k: best[k] for k in candidates[0]}, table)


def pick(table: list[dict[str, float]], max_psnr_cost: float = 0.0, hue_tolerance: float = 0.0) -> dict[str, float]:
  """The criterion: among ΔPSNR >= -max_psnr_cost, the best ΔPSNR of the rows within `hue_tolerance` of the best
  hue recall; when no row qualifies, the best ΔPSNR."""
  def number(value):  # a NaN (e.g. no coloured pixel) never wins
    return -np.inf if np.isnan(value) else value
  fine = [row for row in table if row['delta_psnr'] >= -max_psnr_cost]
  if fine:
    best = max(number(row['hue_recall']) for row in fine)
    fine = [row for row in fine if number(row['hue_recall']) >= best - hue_tolerance]
  return max(fine or table, key=lambda row: number(row['delta_psnr']))
