"""Repeat-factor sampling by hue: photos holding rare hues are drawn more often.

Class rebalancing (`model.loss.regression_rebalancing`, Zhang's weights) scales each *pixel*'s loss by the rarity of
its colour; it cannot show the network more *photos* of a rare colour in context. Repeat-factor sampling (Gupta
et al., LVIS 2019) does that for long-tailed categories, and here the categories are the six hue sectors of the
hue-balanced recall (`trainer.objective.metrics`): in object-centred photo sets the cyan and purple sectors cover a
noticeable share of few photos, the yellow-orange sector of most.

With f_c the share of training photos in which sector c covers at least `PRESENCE_SHARE` of the pixels (truly
coloured ones, chroma >= `metrics.HUE_TRUE_CHROMA`), the sector's factor is r_c = max(1, sqrt(t / f_c)) for the
threshold t (`training.sampling.hue_repeat_threshold`), and a photo's is the largest factor of the sectors it holds (1 when
it holds none). Each epoch a photo is repeated floor(r) times, plus once more with probability r - floor(r).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

import numpy as np
import tensorflow as tf
from tensorflow.experimental import numpy as tnp

from trainer.objective import metrics

PRESENCE_SHARE = 0.01  # a photo holds a hue sector when that sector's truly coloured pixels are >= 1% of it


def sector_presence(ab: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
  """bool [HUE_SECTORS]: which sectors cover at least PRESENCE_SHARE of a photo's (unpadded) pixels."""
  hue, chroma = metrics.hue_and_chroma(ab)
  valid = np.ones_like(chroma, bool) if mask is None else np.asarray(mask).reshape(-1) > 0.5
  coloured = (chroma >= metrics.HUE_TRUE_CHROMA) & valid
  counts = np.bincount(metrics.hue_sector(hue[coloured]), minlength=metrics.HUE_SECTORS)
  return counts >= PRESENCE_SHARE * max(1, int(valid.sum()))


@dataclasses.dataclass(frozen=True)
class Plan:
  """What the sampling does, counted on a sample of the training photos."""
  frequencies: np.ndarray     # [HUE_SECTORS]: the share of photos holding each sector
  sector_factors: np.ndarray  # [HUE_SECTORS]: r_c
  mean_factor: float          # the photos' mean factor: a pass over the split draws this many times its photos
  threshold: float

  def describe(self) -> str:
    return ('hue repeat-factor sampling: sectors held by ' + ' / '.join(f'{f:.3f}' for f in self.frequencies)
            + ' of the photos -> factors ' + ' / '.join(f'{r:.2f}' for r in self.sector_factors)
            + f'; a pass draws {self.mean_factor:.2f}x the photos')

  def header(self) -> dict:
    """What the exported weights' header records (`hue_repeat_sampling`)."""
    return {'threshold': self.threshold, 'sector_factors': [round(float(r), 4) for r in self.sector_factors]}


def plan(photos: Iterable[tuple[np.ndarray, np.ndarray | None]], threshold: float) -> Plan:
  """The sectors' shares and factors for `threshold`, from photos given as (ab, mask or None)."""
  presence = np.array([sector_presence(ab, mask) for ab, mask in photos], bool)
  if not len(presence):
    raise ValueError('no photos to count hue sectors on')
  frequencies = presence.mean(axis=0)
  factors = sector_repeat_factors(frequencies, threshold)
  per_photo = np.max(np.where(presence, factors, 1.0), axis=1)
  return Plan(frequencies, factors, float(per_photo.mean()), float(threshold))


def sector_repeat_factors(frequencies: np.ndarray, threshold: float) -> np.ndarray:
  """r_c = max(1, sqrt(threshold / f_c)); a sector no photo holds gets 1 (nothing to repeat)."""
  frequencies = np.asarray(frequencies, np.float64)
  with np.errstate(divide='ignore'):
    factors = np.sqrt(threshold / frequencies)
  return np.where(frequencies > 0, np.maximum(1.0, factors), 1.0)


def photo_repeat_factor_tf(ab, mask, factors):
  """TF twin of the rule above for one photo (ab [S, S, 2] in ab units, mask [S, S, 1]): the largest factor of
  the sectors it holds, 1.0 when none."""
  hue, chroma = metrics.hue_and_chroma(ab, xp=tnp)
  valid = mask[..., 0] > 0.5
  coloured = tf.logical_and(chroma >= metrics.HUE_TRUE_CHROMA, valid)
  sector = metrics.hue_sector(hue, xp=tnp)
  counts = tf.reduce_sum(tf.one_hot(tf.boolean_mask(sector, coloured), metrics.HUE_SECTORS), axis=0)
  pixels = tf.maximum(1.0, tf.reduce_sum(tf.cast(valid, tf.float32)))
  present = counts >= PRESENCE_SHARE * pixels
  held = tf.where(present, tf.constant(factors, tf.float32), tf.ones([metrics.HUE_SECTORS], tf.float32))
  return tf.reduce_max(held)


def stochastic_count(factor, seed: int | None = None):
  """floor(r), plus 1 with probability r - floor(r): the expected count is r (tf.int64 scalar)."""
  whole = tf.floor(factor)
  extra = tf.cast(tf.random.uniform([], seed=seed) < factor - whole, tf.float32)
  return tf.cast(whole + extra, tf.int64)
