"""Small Beam helpers of the dataset job."""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.transforms import window
from apache_beam.utils.windowed_value import WindowedValue


def in_global_window(output: Any) -> Any:
  """An output emitted from finish_bundle, where Beam needs it wrapped in its window (this job is batch: global)."""
  if isinstance(output, beam.pvalue.TaggedOutput):
    return beam.pvalue.TaggedOutput(output.tag, WindowedValue(output.value, 0, [window.GlobalWindow()]))
  return WindowedValue(output, 0, [window.GlobalWindow()])
