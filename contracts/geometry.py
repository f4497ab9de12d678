"""Resizing to the training size and seeded geometric augmentation.

`fit_image` gives the unaugmented square image (shorter side + centre crop, or letterbox with a padding mask).
`augment_image` draws a flip, zoom, shift, rotation and shear (the ImageDataGenerator set of the original Keras
colorizers) from a seed derived from md5(seed, content hash, copy index), and applies them as one affine
resampling, so a rebuild is bit-identical and no photo's copies depend on processing order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math

import numpy as np
from PIL import Image

from configs import definitions


def copy_seed(global_seed: int, content_hash: str, copy_index: int) -> int:
  """Deterministic 63-bit seed of one augmentation copy of one photo."""
  digest = hashlib.md5(f'{global_seed}:{content_hash}:{copy_index}'.encode('ascii')).digest()
  return int.from_bytes(digest[:8], 'little') >> 1


@dataclasses.dataclass(frozen=True)
class AugmentParams:
  """One draw of the random geometry (angles in degrees; zoom = window side / available side)."""
  flip: bool
  rotation: float
  shear: float
  zoom: float
  shift_x: float  # in [-1, 1]: where the window sits in the slack left by the zoom
  shift_y: float


def draw_params(seed: int, config: definitions.AugmentationConfig) -> AugmentParams:
  rng = np.random.default_rng(seed)
  low, high = config.zoom_range
  return AugmentParams(
      flip=bool(config.horizontal_flip and rng.random() < 0.5),
      rotation=float(rng.uniform(-config.max_rotation_degrees, config.max_rotation_degrees)),
      shear=float(rng.uniform(-config.max_shear_degrees, config.max_shear_degrees)),
      zoom=float(rng.uniform(low, high)),
      shift_x=float(rng.uniform(-1.0, 1.0)),
      shift_y=float(rng.uniform(-1.0, 1.0)),
  )


def _letterbox(image: Image.Image, size: int) -> tuple[Image.Image, Image.Image]:
  width, height = image.size
  scale = size / max(width, height)
  new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
  canvas = Image.new('RGB', (size, size), (128, 128, 128))
  mask = Image.new('L', (size, size), 0)
  left, top = (size - new_w) // 2, (size - new_h) // 2
  canvas.paste(image.resize((new_w, new_h), Image.BILINEAR), (left, top))
  mask.paste(255, (left, top, left + new_w, top + new_h))
  return canvas, mask


def _mask_or_none(mask: Image.Image) -> np.ndarray | None:
  array = np.asarray(mask) > 127
  return None if array.all() else array


def _as_image(rgb: np.ndarray | Image.Image) -> Image.Image:
  return rgb if isinstance(rgb, Image.Image) else Image.fromarray(rgb)


def fit_image(rgb: np.ndarray | Image.Image, size: int, mode: str) -> tuple[Image.Image, np.ndarray | None]:
  """RGB photo (uint8 [H, W, 3] or PIL) -> (RGB PIL image [size, size], bool mask or None when nothing is padding).

  The dataset build keeps the PIL image: the colour table reads its RGBX bytes directly (see lab_table).
  """
  image = _as_image(rgb)
  if mode == 'letterbox':
    canvas, mask = _letterbox(image, size)
    return canvas, _mask_or_none(mask)
  width, height = image.size
  side = min(width, height)
  left, top = (width - side) / 2, (height - side) / 2
  return image.resize((size, size), Image.BILINEAR, box=(left, top, left + side, top + side)), None


def fit(rgb: np.ndarray | Image.Image, size: int, mode: str) -> tuple[np.ndarray, np.ndarray | None]:
  """`fit_image` as a uint8 array [size, size, 3]."""
  image, mask = fit_image(rgb, size, mode)
  return np.asarray(image), mask


def augment_image(rgb: np.ndarray | Image.Image, size: int, mode: str,
                  params: AugmentParams) -> tuple[Image.Image, np.ndarray | None]:
  """One augmented square copy (RGB PIL image); pixels that fall outside the photo are marked as padding in the
  mask."""
  image = _as_image(rgb)
  if mode == 'letterbox':
    canvas, canvas_mask = _letterbox(image, size)
  else:
    # Antialiased reduction first, so the affine resampling below only scales by <= 1/zoom.
    width, height = image.size
    target_short = min(min(width, height), math.ceil(size / params.zoom))
    scale = target_short / min(width, height)
    canvas = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR)
    canvas_mask = Image.new('L', canvas.size, 255)
  width, height = canvas.size
  window = params.zoom * min(width, height)
  center_x = width / 2 + params.shift_x * (width - window) / 2
  center_y = height / 2 + params.shift_y * (height - window) / 2
  # Output pixel (u, v) -> canvas point: centre + R(rotation) @ Shear(shear) @ Flip @ scale * (u - c, v - c).
  step = window / size
  theta, phi = math.radians(params.rotation), math.radians(params.shear)
  flip = -1.0 if params.flip else 1.0
  cos, sin, tan = math.cos(theta), math.sin(theta), math.tan(phi)
  # Shear then rotate: [[cos, -sin], [sin, cos]] @ [[1, tan], [0, 1]].
  m00, m01 = cos * step * flip, (cos * tan - sin) * step
  m10, m11 = sin * step * flip, (sin * tan + cos) * step
  # PIL's AFFINE works in continuous coordinates (pixel centres at +0.5): canvas = centre + M @ (out - size / 2).
  coeffs = (m00, m01, center_x - (m00 + m01) * size / 2,
            m10, m11, center_y - (m10 + m11) * size / 2)
  out = canvas.transform((size, size), Image.AFFINE, coeffs, resample=Image.BILINEAR, fillcolor=(128, 128, 128))
  out_mask = canvas_mask.transform((size, size), Image.AFFINE, coeffs, resample=Image.NEAREST, fillcolor=0)
  return out, _mask_or_none(out_mask)
