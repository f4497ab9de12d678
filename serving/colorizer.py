"""Colorizing encoded photos with the exported SavedModel's `serving_default` signature (shared by the CLI, the
batch job and the web page): bytes in, PNG bytes out at the photo's own resolution, clear errors for bad input."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from contracts import colorspace
from contracts import dead_letters
from contracts import limits
from contracts import strips
from serving import model_store

# Checked before the model sees the bytes, so a decompression bomb never reaches the graph.
MAX_PIXELS = limits.MAX_PIXELS


class ColorizeError(ValueError):
  """A photo that cannot be colorized; the message says why, `reason` is its dead-letter reason code."""

  def __init__(self, message: str, reason: str = dead_letters.CORRUPT):
    super().__init__(message)
    self.reason = reason


def check_header(data: bytes) -> bool:
  """Validates the header; returns whether the bytes must be re-encoded before the model sees them (formats
  TensorFlow does not decode, or an EXIF orientation TensorFlow would ignore)."""
  if not data:
    raise ColorizeError('empty file', dead_letters.EMPTY)
  try:
    with Image.open(io.BytesIO(data)) as image:
      width, height = image.size
      orientation = image.getexif().get(0x0112, 1)
      image_format = image.format
  except Exception as e:  # pylint: disable=broad-except
    raise ColorizeError(f'not a readable image ({type(e).__name__})', dead_letters.NOT_AN_IMAGE) from None
  if width * height > MAX_PIXELS:
    raise ColorizeError(f'{width}x{height} is larger than the {MAX_PIXELS} pixel limit', dead_letters.TOO_LARGE)
  return image_format not in ('JPEG', 'PNG', 'GIF', 'BMP') or orientation != 1


class Colorizer:
  """A loaded colorization model."""

  def __init__(self, model_path: str):
    self.model, self.model_dir = model_store.load(model_path)
    self._serve = self.model.signatures['serving_default']

  def colorize(self, data: bytes) -> bytes:
    """Encoded photo (JPEG/PNG/GIF/BMP/WebP, colour or gray) -> colorized PNG at its original resolution."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if check_header(data):
      data = reencode_png(data)
    try:
      return bytes(self._serve(images=tf.constant([data]))['png'].numpy()[0])
    except tf.errors.InvalidArgumentError as e:
      raise ColorizeError(e.message.strip().splitlines()[0]) from None


def reencode_png(data: bytes) -> bytes:
  """Decodes with PIL (any format it knows, EXIF orientation applied) and re-encodes as PNG."""
  from PIL import ImageOps  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(io.BytesIO(data)) as image:
      buffer = io.BytesIO()
      ImageOps.exif_transpose(image).convert('RGB').save(buffer, format='PNG', compress_level=1)
      return buffer.getvalue()
  except Exception as e:  # pylint: disable=broad-except
    raise ColorizeError(f'cannot decode ({type(e).__name__}: {e})') from None


def is_colour(image: Image.Image) -> bool:
  """Whether a photo carries colour: the project's one rule, `contracts.limits.is_colour_rgb8`."""
  return limits.is_colour_rgb8(np.asarray(image.convert('RGB')))


def comparison(data: bytes, png: bytes) -> bytes:
  """Side by side, drawn by `contracts.strips`: the input's L as gray | its L with the colorized ab | the original
  (the original only when the input was in colour)."""
  from PIL import ImageOps  # pylint: disable=g-import-not-at-top
  original = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert('RGB')
  colorized = Image.open(io.BytesIO(png)).convert('RGB')
  lab = colorspace.rgb8_to_lab(np.asarray(original))
  ab_pred = colorspace.rgb8_to_lab(np.asarray(colorized))[..., 1:]
  strip = Image.fromarray(strips.gray_prediction_original(
      lab[..., :1], ab_pred, lab[..., 1:] if is_colour(original) else None))
  buffer = io.BytesIO()
  strip.save(buffer, format='PNG')
  return buffer.getvalue()


def prepare(data: bytes) -> bytes:
  """Fully validated model input: the header checks, a complete decode (truncated or corrupt files fail here,
  one at a time, instead of failing a whole inference batch later), and re-encoding where needed."""
  if check_header(data):
    return reencode_png(data)
  try:
    with Image.open(io.BytesIO(data)) as image:
      image.load()
  except Exception as e:  # pylint: disable=broad-except
    raise ColorizeError(f'cannot decode ({type(e).__name__}: {e})') from None
  return data
