"""Dense optical flow between two frames' L (OpenCV's DIS), its forward-backward consistency, and warping an image
of the previous frame onto the current one: what the consistency step and the flicker measure both stand on.

Flow is computed on L alone (the only channel an old film has, and the one the output never changes), scaled to
8 bits, optionally at a reduced resolution (the colour the model predicts is smooth, so the flow that moves it need
not be sharp), and scaled back up for warping at full resolution.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

FAST = cv2.DISOPTICAL_FLOW_PRESET_FAST
MEDIUM = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
_L_TO_8_BITS = 255.0 / 100.0


def l_to_u8(l: np.ndarray, max_side: int = 0) -> np.ndarray:
  """L [H, W] in [0, 100] -> uint8 [h, w], area-downscaled so that its longer side is at most `max_side` (0: not
  downscaled)."""
  image = np.clip(np.rint(np.asarray(l, np.float32) * _L_TO_8_BITS), 0, 255).astype(np.uint8)
  height, width = image.shape
  if max_side and max(height, width) > max_side:
    scale = max_side / max(height, width)
    size = (max(8, int(round(width * scale))), max(8, int(round(height * scale))))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
  return image


def grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
  """Pixel coordinates x [H, W] and y [H, W] (float32), the identity map of `cv2.remap`."""
  ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
  return xs, ys


def warp(image: np.ndarray, flow: np.ndarray, base: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
  """`image`(x + flow(x)), bilinear, edges repeated: the previous frame's image seen from the current frame, given
  the flow from the current frame to the previous one. `base`: `grid` of the flow's size, if already made."""
  xs, ys = base if base is not None else grid(*flow.shape[:2])
  return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def resize_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
  """A flow field [h, w, 2] in pixels of its own size -> [height, width, 2] in pixels of the new size."""
  h, w = flow.shape[:2]
  if (h, w) == (height, width):
    return flow
  big = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
  big[..., 0] *= width / w
  big[..., 1] *= height / h
  return big


@dataclasses.dataclass
class Motion:
  """How the current frame's pixels moved from the previous frame, at the flow's resolution."""
  flow: np.ndarray       # [h, w, 2]: current pixel x was at x + flow(x) in the previous frame
  error: np.ndarray      # [h, w]: |flow(x) + backward flow(x + flow(x))|, pixels; 0 where the two agree
  inside: np.ndarray     # [h, w] bool: x + flow(x) lies inside the previous frame


class FlowEstimator:
  """DIS optical flow, both ways, with its forward-backward check."""

  def __init__(self, preset: int = FAST):
    self._dis = cv2.DISOpticalFlow_create(preset)
    self._grid: tuple[np.ndarray, np.ndarray] | None = None

  def base(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    if self._grid is None or self._grid[0].shape != (height, width):
      self._grid = grid(height, width)
    return self._grid

  def motion(self, current: np.ndarray, previous: np.ndarray) -> Motion:
    """Flow between two uint8 frames of one size (`l_to_u8`)."""
    to_previous = self._dis.calc(current, previous, None)
    to_current = self._dis.calc(previous, current, None)
    height, width = current.shape
    xs, ys = self.base(height, width)
    back = warp(to_current, to_previous, (xs, ys))
    error = np.hypot(to_previous[..., 0] + back[..., 0], to_previous[..., 1] + back[..., 1])
    x, y = xs + to_previous[..., 0], ys + to_previous[..., 1]
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    return Motion(to_previous, error, inside)
