"""The logging handlers of `pipeline/console.py`: TFX's and the trainer's records become the terminal's progress
lines; other records go to the log file while no other handler writes them."""

from __future__ import annotations

import logging
import sys

# The LocalDagRunner's and launcher's records (format strings, not formatted messages).
_NODE_RUNNING = 'Component %s is running.'
_NODE_FINISHED = 'Component %s is finished.'
_NODE_SKIPPED = ('Skipping component %s.', 'Skipping execution for %s')
_NODE_CACHED = 'A cached execution %d is used.'


class ProgressHandler(logging.Handler):
  """Turns the orchestrator's and trainer's records into the terminal's progress lines."""

  def __init__(self, console):
    super().__init__(logging.DEBUG)
    self.console = console

  def emit(self, record: logging.LogRecord) -> None:
    try:
      nodes = getattr(record, 'pipeline_nodes', None)
      if nodes:
        self.console.announce(nodes)
        return
      args = record.args if isinstance(record.args, tuple) else ()
      if record.msg == _NODE_RUNNING and args:
        self.console.node_started(str(args[0]))
      elif record.msg == _NODE_FINISHED and args:
        self.console.node_finished(str(args[0]))
      elif record.msg == _NODE_CACHED:
        self.console.node_note('cached')
      elif record.msg in _NODE_SKIPPED:
        self.console.node_note('skipped')
      elif record.levelno <= logging.INFO:
        for prefix, pattern in self.console._forward:  # pylint: disable=protected-access
          if record.name == prefix or record.name.startswith(prefix + '.'):
            message = record.getMessage()
            if pattern.search(message):
              self.console.forward(message)
              break
    except Exception:  # pylint: disable=broad-except
      self.handleError(record)


class FallbackHandler(logging.StreamHandler):
  """Writes records to the log (via sys.stderr) while no other handler does (before absl's app.run installs its
  own, or in a program without absl): the progress handler alone would otherwise swallow them."""

  def __init__(self, console):
    super().__init__(sys.stderr)
    self.console = console
    self.setFormatter(logging.Formatter('%(levelname).1s%(asctime)s %(name)s] %(message)s'))

  def emit(self, record: logging.LogRecord) -> None:
    ours = (self.console._progress, self)  # pylint: disable=protected-access
    if any(h not in ours for h in logging.getLogger().handlers):
      return
    super().emit(record)
