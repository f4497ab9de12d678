"""Limits and thresholds every stage shares, defined once.

- `MAX_PIXELS`: the largest photo (width x height) any stage accepts, checked from the header before decoding
  (decompression bombs): the dataset build (`data.max_pixels`, whose default and the bundled configs use this
  value; a test checks they agree), the colorize CLI / batch job / web page (`serving.colorizer`) and the
  SavedModel's own graph (`trainer.export`).
- `GRAYSCALE_CHROMA_THRESHOLD` and `is_colour_lab`: the "is this a colour photo" rule (Zhang et al.): a photo with
  no pixel where |a| or |b| exceeds 5 is a grayscale source. The dataset build drops such sources
  (`data.grayscale_chroma_threshold`, default this value), the gray | prediction | original strips show the
  original only for a colour photo.
- Video (`video/`): `MAX_VIDEO_FRAME_PIXELS`, the largest frame any video tool accepts (checked from the stream's
  header before a frame is decoded); the web page's clip limits (`WEB_MAX_CLIP_*`: a short clip is colorized
  while the browser waits, so its bytes, duration and frame size are bounded; beyond them: 413).
- The serving graph's work sizes, shared by the SavedModel's graph (`trainer.export`) and its NumPy twin for the
  TFLite/ONNX exports (`serving.numpy_graph`): `SERVING_STRIP_PIXELS`, `SERVING_PNG_COMPRESSION`.
"""

from __future__ import annotations

import numpy as np

from contracts import colorspace

MAX_PIXELS = 64_000_000
GRAYSCALE_CHROMA_THRESHOLD = 5.0

# Video: a frame at most 4096 x 2304 (4K DCI width, 16:9), about 9.4 megapixels; every frame is decoded, colorized
# and encoded, so this (not MAX_PIXELS, meant for one still photo) bounds a video's per-frame memory and time.
MAX_VIDEO_FRAME_PIXELS = 4096 * 2304
# The web page's clips: colorized while the browser waits (about 10 frames/s at 480p on 2 cores).
# The full-resolution colour conversion runs in strips of about this many pixels, one at a time, so a 24-megapixel
# photo needs a few strip-sized float temporaries instead of a dozen photo-sized ones.
SERVING_STRIP_PIXELS = 1 << 20
# zlib level of the colorized PNG: 1 encodes a megapixel several times faster than the default (6) for a somewhat
# larger file (benchmarks/bench_colorize.py measures both); the pixels are the same.
SERVING_PNG_COMPRESSION = 1

WEB_MAX_CLIP_BYTES = 15_000_000       # also capped by the server's --max_upload_mb
WEB_MAX_CLIP_SECONDS = 10.0
WEB_MAX_CLIP_FRAME_PIXELS = 1280 * 720


def is_colour_lab(lab: np.ndarray, threshold: float = GRAYSCALE_CHROMA_THRESHOLD) -> bool:
  """Whether a Lab image ([..., 3]) has a pixel with |a| or |b| above `threshold`."""
  return bool(np.abs(np.asarray(lab)[..., 1:]).max() > threshold) if np.size(lab) else False


def is_colour_rgb8(rgb: np.ndarray, threshold: float = GRAYSCALE_CHROMA_THRESHOLD) -> bool:
  """`is_colour_lab` of an 8-bit sRGB image ([..., 3] uint8)."""
  return is_colour_lab(colorspace.rgb_to_lab(np.asarray(rgb, np.float32) / 255.0), threshold)
