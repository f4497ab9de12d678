"""The one renderer of sample colorizations: gray input | prediction | original, side by side.

Used by the trainer's TensorBoard images (`trainer.loop.summaries`), `colorize --compare` (`serving.colorizer`) and the
evaluation report's samples, so all three show the same thing: the gray panel is the L plane with zero chroma (what
the model sees), the prediction is that L with the predicted ab, the original is that L with the true ab.
"""

from __future__ import annotations

import numpy as np

from contracts import colorspace


def gray_prediction_original(l, ab_pred, ab_true=None) -> np.ndarray:
  """Lab planes in, a uint8 sRGB strip out.

  Args:
    l: L in [0, 100], [..., H, W] or [..., H, W, 1] (any leading batch dimensions).
    ab_pred: predicted a, b, [..., H, W, 2].
    ab_true: the original a, b, [..., H, W, 2], or None to leave the original panel out (a gray input photo).

  Returns:
    uint8 [..., H, 3 * W, 3] (gray | prediction | original), or [..., H, 2 * W, 3] without `ab_true`.
  """
  l = np.asarray(l, np.float64)
  ab_pred = np.asarray(ab_pred, np.float64)
  if l.ndim == ab_pred.ndim - 1:
    l = l[..., None]
  if l.shape[:-1] != ab_pred.shape[:-1] or l.shape[-1] != 1 or ab_pred.shape[-1] != 2:
    raise ValueError(f'expected L [..., H, W, 1] and ab [..., H, W, 2], got {l.shape} and {ab_pred.shape}')
  chromas = [np.zeros_like(ab_pred), ab_pred] + ([] if ab_true is None else [np.asarray(ab_true, np.float64)])
  panels = [colorspace.lab_to_rgb8(np.concatenate([l, ab], -1)) for ab in chromas]
  return np.concatenate(panels, axis=-2)
