"""Choosing the annealed-mean temperature of a classification colorizer on the eval split.

softmax(logits / T) averaged over the bin centres: a low T takes the mode (vivid, sometimes patchy and wrong),
T = 1 the mean (safe, brown). Zhang et al. fixed T = 0.38 by eye; here it is measured. Criterion: among the
candidates whose ΔPSNR against gray is >= -`model.temperature_max_psnr_cost` (0 by default: the colours add
something rather than cost fidelity), the one with the highest hue-balanced recall (the colour is the right one);
when none qualifies, the one with the best ΔPSNR.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable

import numpy as np


@dataclasses.dataclass
class Choice:
  temperature: float
  table: list[dict[str, float]]  # per candidate: temperature, delta_psnr, hue_recall, colourfulness_ratio


def choose(candidates: Iterable[float], batches: Iterable, logits_fn: Callable, decode_fn: Callable,
           max_psnr_cost: float = 0.0, max_examples: int = 256) -> Choice:
  """Scores every candidate temperature on eval batches and picks one (criterion in the module docstring).

  Args:
    candidates: Temperatures to try.
    batches: Eval batches (features, targets) as `trainer.data.make_dataset` yields them (scaled L, ab).
    logits_fn: features -> the model's bin logits.
    decode_fn: (logits, temperature) -> ab in ab units at the model's size.
    max_psnr_cost: How many dB of PSNR against gray the chosen temperature may cost (`model.*`).
    max_examples: Eval examples used.
  """
  from trainer import metrics  # pylint: disable=g-import-not-at-top
  from trainer import model as model_lib  # pylint: disable=g-import-not-at-top
  logits, labs, seen = [], [], 0
  for features, targets in batches:
    logits.append(logits_fn(features))
    l = model_lib.unscale_l(features['l'].numpy())
    ab = model_lib.unscale_ab(targets['ab'].numpy())
    labs.extend(np.concatenate([l, ab], -1))
    seen += len(l)
    if seen >= max_examples:
      break
  table = []
  for temperature in candidates:
    predictions = [ab for chunk in logits for ab in np.asarray(decode_fn(chunk, temperature))]
    report = metrics.evaluate(labs, predictions)
    table.append({'temperature': float(temperature), 'delta_psnr': report.delta_psnr,
                  'hue_recall': report.hue_recall, 'colourfulness_ratio': report.colourfulness_ratio})
  return Choice(pick(table, max_psnr_cost), table)


def pick(table: list[dict[str, float]], max_psnr_cost: float = 0.0) -> float:
  """The criterion: the best hue recall among rows with ΔPSNR >= -max_psnr_cost, else the best ΔPSNR."""
  fine = [row for row in table if row['delta_psnr'] >= -max_psnr_cost]
  best = max(fine, key=lambda row: row['hue_recall']) if fine else max(table, key=lambda row: row['delta_psnr'])
  return best['temperature']
