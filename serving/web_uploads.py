"""What an upload must be before it reaches the model, and how many are colorized at once.

Checks run from the image header before any full decode (type, the pixel limit); failures are `Rejected` with
one of `contracts.decode`'s reason words and a sentence for people, never an exception's own text.
"""

from __future__ import annotations

import collections
import contextlib
import io
import math
import threading
import time
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

# Retry-After of a 503: the estimated time the admitted uploads need, within these bounds (seconds).
MIN_RETRY_AFTER_S = 1
MAX_RETRY_AFTER_S = 60
INITIAL_SERVICE_S = 1.0  # the colorization time assumed before any was measured
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
  """At most `slots` uploads colorized at once; up to `queue` more wait for a slot, in arrival order, each for at
  most `max_wait_s`.

  An upload that finds `queue` others already waiting, or that waits `max_wait_s` without a slot, is `Rejected`
  with 503 (reasons `queue_full`, `queue_timeout`) and a `Retry-After`: the seconds the uploads already admitted
  need, estimated from recent colorization times, within [MIN_RETRY_AFTER_S, MAX_RETRY_AFTER_S]. A finished
  upload hands its slot straight to the longest-waiting one, so a newcomer never overtakes the queue.
  """

  def __init__(self, slots: int, queue: int, max_wait_s: float):
    self.slots, self.queue, self.max_wait_s = slots, queue, max_wait_s
    self._lock = threading.Lock()
    self._waiters: collections.deque[threading.Event] = collections.deque()
    self.running = 0
    self.peak_waiting = 0
    self.refused = {'queue_full': 0, 'queue_timeout': 0}
    self.service_s = INITIAL_SERVICE_S  # moving average of the time an upload holds a slot

  @property
  def waiting(self) -> int:
    return len(self._waiters)

  def retry_after_s(self) -> int:
    """Seconds until the uploads running and waiting now are done, at the recent colorization time."""
    backlog_s = (self.running + self.waiting) * self.service_s / self.slots
    return int(min(MAX_RETRY_AFTER_S, max(MIN_RETRY_AFTER_S, math.ceil(backlog_s))))

  def _refuse(self, reason: str, message: str) -> Rejected:
    self.refused[reason] += 1
    retry = self.retry_after_s()
    return Rejected(503, reason, f'{message} Try again in {retry} s.', [('Retry-After', str(retry))])

  @contextlib.contextmanager
  def hold(self):
    """Waits for a slot (at most `max_wait_s`) and holds it for the `with` block."""
    ticket = None
    with self._lock:
      if self.running < self.slots and not self._waiters:
        self.running += 1
      elif len(self._waiters) >= self.queue:
        raise self._refuse('queue_full', f'The server is busy: its wait queue is full ({self.queue} waiting, the '
                                         f'queue limit).')
      else:
        ticket = threading.Event()
        self._waiters.append(ticket)
        self.peak_waiting = max(self.peak_waiting, len(self._waiters))
    if ticket is not None:
      ticket.wait(self.max_wait_s)
      with self._lock:
        if not ticket.is_set():  # checked under the lock: a slot handed over meanwhile is taken
          self._waiters.remove(ticket)
          raise self._refuse('queue_timeout', f'The server is busy: this photo waited {self.max_wait_s:g} s (the '
                                              f'longest wait) without a free slot.')
    start = time.monotonic()
    try:
      yield
    finally:
      with self._lock:
        self.service_s = 0.8 * self.service_s + 0.2 * (time.monotonic() - start)
        if self._waiters:
          self._waiters.popleft().set()  # the slot passes on; `running` stays the same
        else:
          self.running -= 1
