"""The dead-letter record: one line of `dead_letters.jsonl` per input that produced no output, with the reason.

One schema for every job that writes them (the dataset build and the batch colorize job):
`{"uri", "stage", "reason", "detail"}`, sorted, one JSON object per line. `reason` is a short machine-readable code
(the constants below), `detail` the human-readable why.
"""

from __future__ import annotations

import json
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
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from apache_beam.metrics import Metrics  # pylint: disable=g-import-not-at-top
  Metrics.counter(counter_namespace, f'dead_letters_{reason}').inc()
  return beam.pvalue.TaggedOutput(DEAD_LETTER_TAG, DeadLetter(uri, stage, reason, detail))


def write_dead_letters(letters: Iterable[DeadLetter], path: str) -> dict[str, int]:
  """Writes the dead letters, sorted, as one JSON-lines file (local or any Beam filesystem); returns the count per
  reason."""
  from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
  letters = sorted(DeadLetter(*letter) for letter in letters)
  with FileSystems.create(path, mime_type='application/x-ndjson') as f:
    for letter in letters:
      f.write((letter.to_json() + '\n').encode('utf-8'))
  by_reason: dict[str, int] = {}
  for letter in letters:
    by_reason[letter.reason] = by_reason.get(letter.reason, 0) + 1
  return dict(sorted(by_reason.items()))
