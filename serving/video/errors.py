"""Why a video cannot be colorized, in the project's one vocabulary (`contracts.dead_letters`): a reason word and a
sentence naming the file, never a framework's text (PyAV's and FFmpeg's messages stay out of what people read)."""

from __future__ import annotations

import os

from contracts import dead_letters

EMPTY = dead_letters.EMPTY
NOT_A_VIDEO = dead_letters.NOT_A_VIDEO
TRUNCATED = dead_letters.TRUNCATED
CORRUPT = dead_letters.CORRUPT
TOO_LARGE = dead_letters.TOO_LARGE
TOO_LONG = dead_letters.TOO_LONG
UNREADABLE = dead_letters.UNREADABLE
INFERENCE_FAILED = dead_letters.INFERENCE_FAILED


class VideoError(ValueError):
  """A video that cannot be colorized. `reason`: a word of `contracts.dead_letters`; `detail`: our own text (sizes,
  limits, frame numbers), shown to people; `sentence`: `<file>: <reason>: <meaning> (<detail>)`."""

  def __init__(self, path: str, reason: str, detail: str = ''):
    self.path = path
    self.reason = reason
    self.detail = detail
    self.sentence = dead_letters.sentence(reason, detail, dead_letters.VIDEO_EXPLANATIONS, show_detail=True)
    super().__init__(f'{os.path.basename(path.rstrip("/")) or path}: {self.sentence}')
