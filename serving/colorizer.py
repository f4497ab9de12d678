"""Colorizing encoded photos with the exported SavedModel's `serving_default` signature (shared by the CLI, the
batch job and the web page): bytes in, PNG bytes out at the photo's own resolution, clear errors for bad input."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from PIL import ImageOps

from contracts import colorspace
from contracts import dead_letters
from contracts import decode
from contracts import limits
from contracts import strips
from serving import model_store

# Checked before the model sees the bytes, so a decompression bomb never reaches the graph.
MAX_PIXELS = limits.MAX_PIXELS


class ColorizeError(ValueError):
  """A photo that cannot be colorized: `reason` is its word of the one vocabulary (`contracts.dead_letters`),
  `sentence` (the message) what a person reads, never framework text."""

  def __init__(self, reason: str, detail: str = ''):
    self.reason = reason
    self.detail = detail
    self.sentence = dead_letters.sentence(reason, detail)
    super().__init__(self.sentence)


# Formats the serving tools accept: the dataset job's, plus TIFF (scans), decoded by PIL.
FORMATS = decode.ACCEPTED_FORMATS | {'TIFF'}
# Formats whose bytes go to the model as they are (TensorFlow decodes them, and the serving graph composites PNG
# transparency on white as the dataset job does); everything else is decoded by PIL (`contracts.decode`, the
# dataset job's decoder: EXIF orientation, GIF/BMP transparency, CMYK, 16-bit) and re-encoded as an RGB PNG.
_MODEL_FORMATS = ('JPEG', 'PNG')


def prepare(data: bytes) -> bytes:
  """Validates and fully decodes the photo with the dataset job's decoder (`contracts.decode`: header, pixel limit,
  complete decode), so a bad file fails here with its reason (`empty`, `not_an_image`, `unsupported_format`,
  `truncated`, `corrupt`, `too_large`), one at a time, before the model sees it; returns the model's input."""
  try:
    image = decode.decode_pil(data, min_side=1, max_pixels=MAX_PIXELS, formats=FORMATS)
  except decode.UnusableImage as e:
    raise ColorizeError(e.reason, e.detail) from None
  with Image.open(io.BytesIO(data)) as header:
    image_format, mode, orientation = header.format, header.mode, header.getexif().get(0x0112, 1)
  if image_format in _MODEL_FORMATS and mode in ('L', 'LA', 'RGB', 'RGBA') and orientation in (None, 1):
    return data
  buffer = io.BytesIO()
  image.save(buffer, format='PNG', compress_level=1)
  return buffer.getvalue()


def colorize_with(serve, images) -> list[bytes]:
  """Calls a `serving_default` signature on validated photos; a model error becomes a ColorizeError with the
  reason the graph's assertion names (`dead_letters.reason_of_model_error`)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (optional: TFLite/ONNX runtimes serve without it)
  try:
    return [bytes(png) for png in serve(images=tf.convert_to_tensor(images))['png'].numpy()]
  except tf.errors.InvalidArgumentError as e:
    raise ColorizeError(*dead_letters.reason_of_model_error(e.message)) from None
  except tf.errors.OpError:
    raise ColorizeError(dead_letters.INFERENCE_FAILED) from None


class Colorizer:
  """A loaded colorization model."""

  def __init__(self, model_path: str):
    self.model, self.model_dir = model_store.load(model_path)
    self._serve = self.model.signatures['serving_default']

  def colorize(self, data: bytes) -> bytes:
    """Encoded photo (JPEG/PNG/GIF/BMP/WebP/TIFF, colour or gray) -> colorized PNG at its original resolution.

    Raises:
      ColorizeError: with the reason (see `prepare`, `colorize_with`).
    """
    return colorize_with(self._serve, [prepare(data)])[0]


def is_colour(image: Image.Image) -> bool:
  """Whether a photo carries colour: the project's one rule, `contracts.limits.is_colour_rgb8`."""
  return limits.is_colour_rgb8(np.asarray(image.convert('RGB')))


def comparison(data: bytes, png: bytes) -> bytes:
  """Side by side, drawn by `contracts.strips`: the input's L as gray | its L with the colorized ab | the original
  (the original only when the input was in colour)."""
  original = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert('RGB')
  colorized = Image.open(io.BytesIO(png)).convert('RGB')
  lab = colorspace.rgb8_to_lab(np.asarray(original))
  ab_pred = colorspace.rgb8_to_lab(np.asarray(colorized))[..., 1:]
  strip = Image.fromarray(strips.gray_prediction_original(
      lab[..., :1], ab_pred, lab[..., 1:] if is_colour(original) else None))
  buffer = io.BytesIO()
  strip.save(buffer, format='PNG')
  return buffer.getvalue()
