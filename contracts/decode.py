"""Robust decoding of untrusted image bytes into 8-bit sRGB arrays.

Every way a file can be unusable raises `UnusableImage` with a short machine-readable reason, which the Beam job
turns into a dead-letter record; nothing here crashes the job or drops a file silently.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image
from PIL import ImageFile
from PIL import ImageOps

from contracts import dead_letters

# We enforce our own pixel limit (`max_pixels`) before decoding, with a clear reason, instead of PIL's warning.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False

ACCEPTED_FORMATS = frozenset({'JPEG', 'PNG', 'WEBP', 'BMP', 'GIF', 'MPO'})

# Dead-letter reasons (the `reason` field of dead_letters.jsonl; one vocabulary in contracts.dead_letters).
EMPTY = dead_letters.EMPTY
NOT_AN_IMAGE = dead_letters.NOT_AN_IMAGE
UNSUPPORTED_FORMAT = dead_letters.UNSUPPORTED_FORMAT
TRUNCATED = dead_letters.TRUNCATED
CORRUPT = dead_letters.CORRUPT
TOO_SMALL = dead_letters.TOO_SMALL
TOO_LARGE = dead_letters.TOO_LARGE
GRAYSCALE = dead_letters.GRAYSCALE
DUPLICATE = dead_letters.DUPLICATE
UNREADABLE = dead_letters.UNREADABLE


class UnusableImage(Exception):
  """A file that cannot become a training example; `reason` is one of the constants above."""

  def __init__(self, reason: str, detail: str = ''):
    super().__init__(f'{reason}: {detail}' if detail else reason)
    self.reason = reason
    self.detail = detail


def _to_rgb(image: Image.Image) -> Image.Image:
  """Converts any PIL mode to 8-bit RGB; transparency is composited on white."""
  if image.mode in ('I;16', 'I;16B', 'I;16L', 'I', 'F'):
    # 16-bit or float grayscale: scale to 8 bits instead of PIL's clipping conversion.
    array = np.asarray(image, dtype=np.float64)
    peak = 65535.0 if image.mode.startswith('I;16') or array.max() > 255 else 255.0
    image = Image.fromarray(np.clip(np.rint(array * (255.0 / peak)), 0, 255).astype(np.uint8), 'L')
  if image.mode == 'P':
    image = image.convert('RGBA' if 'transparency' in image.info else 'RGB')
  if image.mode in ('LA', 'La', 'PA', 'RGBa'):
    image = image.convert('RGBA')
  if image.mode == 'RGBA':
    background = Image.new('RGBA', image.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, image).convert('RGB')
  if image.mode == 'CMYK':
    return image.convert('RGB')
  if image.mode != 'RGB':
    return image.convert('RGB')
  return image


def decode_image(data: bytes, *, min_side: int, max_pixels: int, draft_side: int = 0) -> np.ndarray:
  """Decodes image bytes to a uint8 RGB array [H, W, 3], EXIF orientation applied (see `decode_pil`)."""
  return np.asarray(decode_pil(data, min_side=min_side, max_pixels=max_pixels, draft_side=draft_side))


def decode_pil(data: bytes, *, min_side: int, max_pixels: int, draft_side: int = 0,
               formats: frozenset[str] = ACCEPTED_FORMATS) -> Image.Image:
  """Decodes image bytes to an RGB PIL image, EXIF orientation applied.

  Args:
    data: The file's bytes.
    min_side: Smallest accepted shorter side (after orientation), else `too_small`.
    max_pixels: Largest accepted width x height, checked from the header before decoding, else `too_large`.
    draft_side: If > 0, let JPEG decode at a reduced scale that keeps both sides >= this (much faster for large
      photos; the result is resized afterwards anyway).
    formats: The accepted PIL formats, else `unsupported_format` (the colorize tools add TIFF).

  Raises:
    UnusableImage: with the reason the file cannot be used.
  """
  if not data:
    raise UnusableImage(EMPTY, '0 bytes')
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # PIL warns on odd EXIF; the checks below decide what is usable.
    try:
      image = Image.open(io.BytesIO(data))
    except Image.UnidentifiedImageError:
      raise UnusableImage(NOT_AN_IMAGE, 'no known image header') from None
    except Exception as e:  # pylint: disable=broad-except
      raise UnusableImage(CORRUPT, f'header: {e}') from None
    if image.format not in formats:
      raise UnusableImage(UNSUPPORTED_FORMAT, f'{image.format}')
    width, height = image.size
    if width * height > max_pixels:
      raise UnusableImage(TOO_LARGE, f'{width}x{height} = {width * height} pixels, the limit is {max_pixels} pixels')
    if min(width, height) < min_side:
      raise UnusableImage(TOO_SMALL, f'{width}x{height}, shorter side < min_side {min_side}')
    try:
      if draft_side and image.format == 'JPEG':
        image.draft('RGB', (draft_side, draft_side))
      image.seek(0)  # GIF/WebP animations: first frame.
      image.load()
      ImageOps.exif_transpose(image, in_place=True)  # no copy when there is nothing to turn
      image = _to_rgb(image)
    except OSError as e:
      message = str(e)
      if 'truncated' in message or 'premature end' in message.lower():
        raise UnusableImage(TRUNCATED, message) from None
      raise UnusableImage(CORRUPT, message) from None
    except Exception as e:  # pylint: disable=broad-except
      raise UnusableImage(CORRUPT, f'{type(e).__name__}: {e}') from None
  if image.mode != 'RGB':
    raise UnusableImage(CORRUPT, f'decoded to unexpected mode {image.mode}')
  if min(image.size) < min(min_side, draft_side or min_side):
    raise UnusableImage(TOO_SMALL, f'{image.size[0]}x{image.size[1]} after decoding')
  return image
