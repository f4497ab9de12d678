"""The web page's short clips: an uploaded video colorized while the browser waits (`serving.video.colorize`, the
same path as `colorize-video`), bounded by `contracts.limits` (bytes, seconds, frame size: 413 beyond them), every
failure `Rejected` with its reason word and a sentence naming the file, never a framework's text."""

from __future__ import annotations

import os
import tempfile

from contracts import limits
from serving.video import colorize
from serving.video import errors
from serving.video import predictor as predictor_lib
from serving.video.errors import VideoError
from serving.web_uploads import Rejected

CLIP_OPTIONS = colorize.Options(max_seconds=limits.WEB_MAX_CLIP_SECONDS,
                                max_frame_pixels=limits.WEB_MAX_CLIP_FRAME_PIXELS)
_STATUS = {errors.TOO_LARGE: 413, errors.TOO_LONG: 413, errors.EMPTY: 400, errors.INFERENCE_FAILED: 500}


def limits_sentence(max_bytes: int) -> str:
  side = f'{limits.WEB_MAX_CLIP_FRAME_PIXELS} pixels per frame (1280x720)'
  return f'at most {limits.WEB_MAX_CLIP_SECONDS:g} s, {side}, {max_bytes / 1e6:g} MB'


def colorize_clip(data: bytes, name: str, predictor: predictor_lib.Predictor) -> bytes:
  """An uploaded clip's bytes -> the colorized MP4's bytes.

  Raises:
    Rejected: 413 too_large / too_long, 400 empty, 415 not_a_video / truncated / corrupt, 500 inference_failed.
  """
  if not data:
    raise Rejected(400, errors.EMPTY, f'{name}: the file is empty.')
  with tempfile.TemporaryDirectory(prefix='colorize-clip-') as scratch:
    source = os.path.join(scratch, 'upload' + os.path.splitext(name)[1][:8])
    output = os.path.join(scratch, 'colorized.mp4')
    with open(source, 'wb') as f:
      f.write(data)
    try:
      colorize.colorize_video(source, output, predictor, CLIP_OPTIONS)
    except VideoError as e:
      raise Rejected(_STATUS.get(e.reason, 415), e.reason, f'{name}: {e.sentence}.') from None
    with open(output, 'rb') as f:
      return f.read()
