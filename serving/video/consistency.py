"""The temporal consistency step: colour predicted frame by frame flickers (the model sees each frame anew, and a
small shift of the picture changes its guess), so each frame's ab is blended with the previous *output* frame's ab
carried along the optical flow.

    out_t = pred_t + w(x) (warp(out_{t-1}) - pred_t),   w(x) = blend * confidence(x)

The confidence is high where the flow is trustworthy: the forward and backward flows agree (occlusions and
failures do not), the warped point lies inside the previous frame, and the warped previous L matches this frame's L
(a new object, a flash). Because the previous output already carries its own history, colour is propagated along
motion trajectories (a running average over about 1 / (1 - blend) frames) while new content takes the model's
colour at once. At a scene cut (L histograms far apart, or too few reliable pixels) nothing is blended: the frame
starts afresh from its prediction. Only ab passes through here: the caller keeps the input's L untouched.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from serving.video import flow as flow_lib

HISTOGRAM_BINS = 64


@dataclasses.dataclass(frozen=True)
class ConsistencyOptions:
  blend: float = 0.95                 # weight of the propagated colour where the flow is fully reliable
  flow_max_side: int = 320            # flow on L downscaled to this longer side (speed; ab is smooth)
  flow_preset: int = flow_lib.FAST
  fb_tolerance_px: float = 3.0        # forward-backward error (flow pixels) where the confidence falls to 1/e
  l_tolerance: float = 16.0           # |L - warped previous L| where it falls to 1/e
  reliable: float = 0.5               # a pixel with confidence above this counts as reliably tracked
  cut_histogram_distance: float = 0.3  # total-variation distance of the L histograms above which it is a cut
  cut_reliable_share: float = 0.3     # a cut when fewer pixels than this share are reliably tracked


@dataclasses.dataclass
class Step:
  ab: np.ndarray          # float32 [H, W, 2], the output colour
  cut: bool               # a new scene (the first frame included): nothing blended
  reliable_share: float   # share of pixels tracked reliably from the previous frame (0 at a cut)


def histogram(l_u8: np.ndarray) -> np.ndarray:
  counts = np.bincount((l_u8 >> 2).ravel(), minlength=HISTOGRAM_BINS).astype(np.float64)
  return counts / max(counts.sum(), 1.0)


class TemporalConsistency:
  """The step over one film, frame by frame in order (it keeps the previous frame's L and output ab)."""

  def __init__(self, options: ConsistencyOptions = ConsistencyOptions()):
    self.options = options
    self._estimator = flow_lib.FlowEstimator(options.flow_preset)
    self._full_grid: tuple[np.ndarray, np.ndarray] | None = None
    self.reset()

  def reset(self) -> None:
    """Forgets the previous frame (a new film)."""
    self._previous_l: np.ndarray | None = None
    self._previous_histogram: np.ndarray | None = None
    self._previous_ab: np.ndarray | None = None
    self.cuts = 0  # scene cuts found (the first frame not counted)

  def confidence(self, current: np.ndarray, previous: np.ndarray) -> tuple[flow_lib.Motion, np.ndarray]:
    """The motion between two flow-resolution L frames and the per-pixel confidence in [0, 1] of carrying colour
    along it."""
    options = self.options
    motion = self._estimator.motion(current, previous)
    warped = flow_lib.warp(previous, motion.flow, self._estimator.base(*current.shape))
    l_difference = (current.astype(np.float32) - warped.astype(np.float32)) * (100.0 / 255.0)
    exponent = (motion.error / options.fb_tolerance_px) ** 2 + (l_difference / options.l_tolerance) ** 2
    return motion, np.exp(-exponent) * motion.inside

  def _is_cut(self, current: np.ndarray, current_histogram: np.ndarray):
    """(cut?, motion, confidence) against the previous frame."""
    options = self.options
    if self._previous_l is None or self._previous_l.shape != current.shape:
      return True, None, None
    if 0.5 * np.abs(current_histogram - self._previous_histogram).sum() > options.cut_histogram_distance:
      return True, None, None
    motion, confidence = self.confidence(current, self._previous_l)
    if float(np.mean(confidence > options.reliable)) < options.cut_reliable_share:
      return True, None, None
    return False, motion, confidence

  def _full_base(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    if self._full_grid is None or self._full_grid[0].shape != (height, width):
      self._full_grid = flow_lib.grid(height, width)
    return self._full_grid

  def step(self, l: np.ndarray, ab_predicted: np.ndarray) -> Step:
    """This frame's output ab from its L [H, W] (0-100) and the model's ab [H, W, 2]."""
    options = self.options
    ab_predicted = np.asarray(ab_predicted, np.float32)
    current = flow_lib.l_to_u8(l, options.flow_max_side)
    current_histogram = histogram(current)
    first = self._previous_l is None
    cut, motion, confidence = self._is_cut(current, current_histogram)
    if cut:
      ab, share = ab_predicted, 0.0
      self.cuts += 0 if first else 1
    else:
      height, width = ab_predicted.shape[:2]
      flow = flow_lib.resize_flow(motion.flow, height, width)
      weight = options.blend * cv2.resize(confidence.astype(np.float32), (width, height),
                                          interpolation=cv2.INTER_LINEAR)
      propagated = flow_lib.warp(self._previous_ab, flow, self._full_base(height, width))
      ab = ab_predicted + weight[..., None] * (propagated - ab_predicted)
      share = float(np.mean(confidence > options.reliable))
    self._previous_l, self._previous_histogram, self._previous_ab = current, current_histogram, ab
    return Step(ab, cut, share)
