"""The dead-letter record: one line of `dead_letters.jsonl` per input that produced no output, with the reason.

One schema for every job that writes them (the dataset build and the batch colorize job):
`{"uri", "stage", "reason", "detail"}`, sorted, one JSON object per line. `reason` is a short machine-readable code
(the constants below), `detail` the human-readable why.

The reasons are the one vocabulary of failure for every tool that reads photos: the dataset job, the `colorize`
CLI, the batch job, the web page and the SavedModel's `serving_default` (whose InvalidArgument assertions start
with the reason word, `too_large: ...`; `reason_of_model_error` maps any model error back to a reason).
`sentence(reason, detail)` is what a person reads: the word, then a sentence, never framework text.
"""

from __future__ import annotations

import json
import os
import re
from typing import Iterable, NamedTuple

# The reasons (`reason` field): why an input produced no output.
EMPTY = 'empty'
NOT_AN_IMAGE = 'not_an_image'
UNSUPPORTED_FORMAT = 'unsupported_format'
TRUNCATED = 'truncated'
CORRUPT = 'corrupt'
TOO_SMALL = 'too_small'
TOO_LARGE = 'too_large'
GRAYSCALE = 'grayscale'
DUPLICATE = 'duplicate'
UNREADABLE = 'unreadable'
INFERENCE_FAILED = 'inference_failed'  # the batch colorize job: the model refused or failed on the photo
NOT_A_VIDEO = 'not_a_video'    # the video tools: no decodable video stream (a still image, text, audio only)
TOO_LONG = 'too_long'          # the web page's clips: longer than its duration limit

# What each reason means, for people (`sentence`).
EXPLANATIONS = {
    EMPTY: 'the file is empty',
    NOT_AN_IMAGE: 'not an image (no JPEG, PNG, GIF, BMP or WebP header)',
    UNSUPPORTED_FORMAT: 'an image format that is not accepted (JPEG, PNG, GIF, BMP, WebP are)',
    TRUNCATED: 'the file ends before the image does (an incomplete download or copy?)',
    CORRUPT: 'the image data is corrupt',
    TOO_SMALL: 'the image is too small',
    TOO_LARGE: 'the image has more pixels than the limit',
    GRAYSCALE: 'a grayscale photo (no colour to learn from)',
    DUPLICATE: 'an exact duplicate of another photo',
    UNREADABLE: 'the file could not be read',
    INFERENCE_FAILED: 'the model failed on this photo',
    NOT_A_VIDEO: 'not a video (no video stream that can be decoded)',
    TOO_LONG: 'the clip is longer than the limit',
}
# The same reasons said of a video (`video/`): its sentences name frames and streams, not images.
VIDEO_EXPLANATIONS = {
    **EXPLANATIONS,
    TRUNCATED: 'the file ends before the video does (an incomplete download or copy?)',
    CORRUPT: 'the video data is corrupt',
    TOO_LARGE: 'the video frames have more pixels than the limit',
    INFERENCE_FAILED: 'the model failed on this video',
}
REASONS = frozenset(EXPLANATIONS)
# Reasons whose `detail` is our own text (sizes, limits, format names) and is shown to people; the others' details
# may hold library messages and stay in the dead-letter records only.
_SHOWN_DETAIL = frozenset({TOO_LARGE, TOO_SMALL, UNSUPPORTED_FORMAT, TOO_LONG})
_MODEL_REASON = re.compile(r'(?:^|[\[\s"\'])(' + '|'.join(sorted(REASONS)) + r'): ([^\]\n"]*)')


def sentence(reason: str, detail: str = '', explanations: dict[str, str] = EXPLANATIONS,
             show_detail: bool = False) -> str:
  """`<reason>: <what it means>[ (<detail>)]`: what a person reads about a failed photo (`explanations`:
  `VIDEO_EXPLANATIONS` for a video; `show_detail`: the detail is the caller's own text, never a library's)."""
  text = f'{reason}: {explanations.get(reason, reason.replace("_", " "))}'
  if detail and (show_detail or reason in _SHOWN_DETAIL):
    text += f' ({detail})'
  return text


def reason_of_model_error(message: str) -> tuple[str, str]:
  """(reason, detail) of an error raised by the SavedModel's `serving_default`: its own assertions carry
  `<reason>: <detail>` (wrapped by TensorFlow in "assertion failed: [...]"); anything else (TensorFlow's decoders
  refusing the bytes) is `corrupt`, without the framework's text."""
  match = _MODEL_REASON.search(message or '')
  if match:
    return match.group(1), match.group(2).strip()
  return CORRUPT, ''


DEAD_LETTER_TAG = 'dead_letters'  # the tagged output of every Beam step that emits dead letters
DEAD_LETTERS_FILE = 'dead_letters.jsonl'


class DeadLetter(NamedTuple):
  uri: str
  stage: str
  reason: str
  detail: str

  def to_json(self) -> str:
    return json.dumps(self._asdict(), sort_keys=True)


def tagged(uri: str, stage: str, reason: str, detail: str, counter_namespace: str):
  """A DeadLetter as a Beam tagged output, counted as `<counter_namespace>/dead_letters_<reason>`."""
  # Lazy: Beam only for the Beam transforms; the serving tools read dead letters without it.
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from apache_beam.metrics import Metrics  # pylint: disable=g-import-not-at-top
  Metrics.counter(counter_namespace, f'dead_letters_{reason}').inc()
  return beam.pvalue.TaggedOutput(DEAD_LETTER_TAG, DeadLetter(uri, stage, reason, detail))


def write_dead_letters(letters: Iterable[DeadLetter], path: str) -> dict[str, int]:
  """Writes the dead letters, sorted, as one JSON-lines file (local or any Beam filesystem), replacing any earlier
  one whole (local: a temporary file renamed into place, so a kill never leaves half a file; object stores: one
  object write); returns the count per reason."""
  # Lazy: Beam only for the Beam transforms; the serving tools read dead letters without it.
  from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
  letters = sorted(DeadLetter(*letter) for letter in letters)
  body = ''.join(letter.to_json() + '\n' for letter in letters).encode('utf-8')
  if '://' in path:
    with FileSystems.create(path, mime_type='application/x-ndjson') as f:
      f.write(body)
  else:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = f'{path}.{os.getpid()}.partial'
    with open(temporary, 'wb') as f:
      f.write(body)
    os.replace(temporary, path)
  by_reason: dict[str, int] = {}
  for letter in letters:
    by_reason[letter.reason] = by_reason.get(letter.reason, 0) + 1
  return dict(sorted(by_reason.items()))
