"""Flicker: how much a film's colour changes along the motion from one frame to the next.

    flicker = mean over reliable pixels x and frame pairs (t-1, t) of || ab_t(x) - ab_{t-1}(x + flow_t(x)) ||

with the flow computed on the *true* L (`FlickerMeter` is built once per clip and measures any number of
colourings of it, all over the same pixels), at full resolution with DIS's MEDIUM preset (finer than the
consistency step's), and `reliable` = forward and backward flows agree within `fb_tolerance_px`, the point stays
inside the frame, and the warped L matches within `l_tolerance` (no occlusion). Pairs across a scene cut are left
out. The original colour clip's own flicker is not zero (resampling, the flow's own error): it is the floor.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from serving.video import flow as flow_lib


class FlickerMeter:
  """The flow and reliable pixels of every frame pair of a clip, from its L frames [H, W] (0-100)."""

  def __init__(self, l_frames: Sequence[np.ndarray], new_scenes: Iterable[int] = (), preset: int = flow_lib.MEDIUM,
               fb_tolerance_px: float = 0.5, l_tolerance: float = 2.0):
    estimator = flow_lib.FlowEstimator(preset)
    starts = set(new_scenes)
    self.pairs: list[tuple[int, np.ndarray, np.ndarray]] = []  # (t, flow to t-1, reliable mask)
    pixels = 0
    previous = None
    for t, l in enumerate(l_frames):
      current = flow_lib.l_to_u8(l)
      if previous is not None and t not in starts:
        motion = estimator.motion(current, previous)
        warped_l = flow_lib.warp(np.asarray(l_frames[t - 1], np.float32), motion.flow)
        reliable = (motion.inside & (motion.error < fb_tolerance_px)
                    & (np.abs(np.asarray(l, np.float32) - warped_l) < l_tolerance))
        self.pairs.append((t, motion.flow, reliable))
      pixels += current.size if t else 0
      previous = current
    self.reliable_share = (sum(int(mask.sum()) for _, _, mask in self.pairs) / pixels) if pixels else 0.0

  def measure(self, ab_frames: Sequence[np.ndarray]) -> float:
    """Mean ab change along the flow over the reliable pixels, in ab units (NaN without any)."""
    total, count = 0.0, 0
    for t, flow, reliable in self.pairs:
      previous = flow_lib.warp(np.asarray(ab_frames[t - 1], np.float32), flow)
      change = np.linalg.norm(np.asarray(ab_frames[t], np.float32) - previous, axis=-1)
      total += float(change[reliable].sum())
      count += int(reliable.sum())
    return total / count if count else float('nan')
