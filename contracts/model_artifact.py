"""The layout of the trainer's Model artifact, read by the evaluator and the pusher.

`<model.uri>/Format-Serving` is TFX's serving folder: the candidate the trainer produced. A warm-started run also
writes `<model.uri>/Start-Serving`: the model it started from (the warm-start weights as they are, with the decoding
chosen on the same eval split), so the gate can compare the candidate with its own starting point on the same
examples, and the pusher can fall back to it (`push.fallback_to_start_model`).
"""

from __future__ import annotations

import posixpath

SERVING_DIR = 'Format-Serving'  # tfx.utils.path_utils.serving_model_dir's folder name
START_SERVING_DIR = 'Start-Serving'


def start_model_dir(model_uri: str) -> str:
  """Where the starting model of a warm-started run is exported (local or gs://)."""
  return posixpath.join(model_uri.rstrip('/'), START_SERVING_DIR)
