"""What an upload must be before it reaches the model, and how many are colorized at once.

Checks run from the image header before any full decode (type, the pixel limit); failures are `Rejected` with
one of `contracts.decode`'s reason words and a sentence for people, never an exception's own text.
"""

from __future__ import annotations

import contextlib
import io
import threading
from typing import Sequence

from PIL import Image
from PIL import ImageFile

from contracts import decode
from serving import colorizer as colorizer_lib

# The pixel limit is the colorizer's (checked here from the header, before any decoding); PIL's own bomb check is
# off so that an oversized photo gets our `too_large` answer naming that limit, as in pipeline/decode.py.
MAX_PIXELS = colorizer_lib.MAX_PIXELS
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False

RETRY_AFTER_S = 2
_FORMATS = 'Upload a JPEG, PNG, WebP, BMP or GIF photo.'


class Rejected(Exception):
  """An answer other than 200: HTTP status, a short reason word, a sentence for people."""

  def __init__(self, status: int, reason: str, message: str, headers: Sequence[tuple[str, str]] = ()):
    super().__init__(message)
    self.status = status
    self.reason = reason
    self.message = message
    self.headers = tuple(headers)


def mb(n: float) -> str:
  return f'{n / 1e6:.1f} MB'


def limit_mb(max_upload_bytes: int) -> str:
  return f'{max_upload_bytes / 1e6:g} MB'


def validate(data: bytes, name: str) -> bytes:
  """Checks an upload from its header (type, pixel limit) before decoding it fully; returns the model's input.

  Raises:
    Rejected: with one of pipeline.decode's reasons (empty, not_an_image, unsupported_format, too_large,
      truncated, corrupt) and a sentence; never an exception's own text.
  """
  if not data:
    raise Rejected(400, decode.EMPTY, f'{name}: the file is empty. {_FORMATS}')
  try:
    with Image.open(io.BytesIO(data)) as image:
      image_format, (width, height) = image.format, image.size
  except Image.UnidentifiedImageError:
    raise Rejected(415, decode.NOT_AN_IMAGE, f'{name}: not a readable image. {_FORMATS}') from None
  except Exception:  # pylint: disable=broad-except
    raise Rejected(415, decode.CORRUPT, f'{name}: the image header is corrupt. {_FORMATS}') from None
  if image_format not in decode.ACCEPTED_FORMATS:
    raise Rejected(415, decode.UNSUPPORTED_FORMAT, f'{name}: {image_format} images are not accepted. {_FORMATS}')
  if width * height > MAX_PIXELS:
    raise Rejected(413, decode.TOO_LARGE,
                   f'{name} is {width}x{height} = {width * height} pixels: the limit is {MAX_PIXELS} pixels '
                   f'({MAX_PIXELS / 1e6:g} megapixels).')
  try:
    return colorizer_lib.prepare(data)
  except colorizer_lib.ColorizeError as e:  # the reason comes from contracts.decode, as in the dataset job
    if e.reason == decode.TRUNCATED:
      raise Rejected(415, decode.TRUNCATED, f'{name}: the file is truncated (an incomplete copy?).') from None
    raise Rejected(415, decode.CORRUPT, f'{name}: the image data is corrupt.') from None
  except Exception:  # pylint: disable=broad-except
    raise Rejected(415, decode.CORRUPT, f'{name}: the image data is corrupt.') from None


class InferenceSlots:
  """At most `slots` holders at once and at most `queue` more waiting; past that, `Rejected` 503 at once."""

  def __init__(self, slots: int, queue: int):
    self.slots, self.queue = slots, queue
    self._semaphore = threading.BoundedSemaphore(slots)
    self._lock = threading.Lock()
    self.admitted = 0  # running + waiting
    self.peak_admitted = 0
    self.refused = 0

  @contextlib.contextmanager
  def hold(self):
    with self._lock:
      if self.admitted >= self.slots + self.queue:
        self.refused += 1
        raise Rejected(503, 'busy', 'The server is busy colorizing other photos; try again in a few seconds.',
                       [('Retry-After', str(RETRY_AFTER_S))])
      self.admitted += 1
      self.peak_admitted = max(self.peak_admitted, self.admitted)
    try:
      with self._semaphore:
        yield
    finally:
      with self._lock:
        self.admitted -= 1
