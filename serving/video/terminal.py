"""A quiet terminal for `colorize-video`: framework logs go to a log file, the terminal shows the progress bar, the
notes and the summary.

The project's rule for long commands, through the quieting `pipeline/console.py` uses too
(`contracts/terminal_logs.py`): the C++ log levels set before TensorFlow loads, then file descriptors 1 and 2
pointed at `<log_dir>/<name>-<time>-<pid>.log` (os.dup2), so TensorFlow's, abseil's and FFmpeg's writes land there;
the terminal is reached only through duplicates of the original descriptors. On an unexpected error the terminal
gets one line and the log's path; the traceback is in the log.
"""

from __future__ import annotations

import sys
import traceback

from contracts import terminal_logs

DEFAULT_LOG_DIR = terminal_logs.DEFAULT_LOG_DIR


class Terminal:
  """`stream`: a text file on the original stderr (for the progress bar); `print`: a line there. Without `capture`
  (`--verbose`) the framework logs stay on the terminal, at their own levels."""

  def __init__(self, name: str, log_dir: str = DEFAULT_LOG_DIR, capture: bool = True):
    self.name = name
    self._capture = terminal_logs.Capture(name, log_dir, capture)
    self.log_path = self._capture.log_path
    self.stream = self._capture.stream

  def print(self, text: str = '') -> None:
    self.stream.write(text + '\n')
    self.stream.flush()

  def close(self) -> None:
    self._capture.release()

  def __enter__(self) -> 'Terminal':
    return self

  def __exit__(self, exc_type, exc, tb) -> bool:
    if exc_type is not None and not issubclass(exc_type, (SystemExit, KeyboardInterrupt)):
      traceback.print_exception(exc_type, exc, tb, file=sys.stderr)  # into the log
      sys.stderr.flush()
      message = (str(exc).strip().splitlines() or [''])[0]
      self.print(f'{self.name} failed: {exc_type.__name__}' + (f': {message}' if message else '')
                 + (f' (full log: {self.log_path})' if self.log_path else ''))
      self.close()
      raise SystemExit(1) from None
    if exc_type is KeyboardInterrupt:
      self.print(f'{self.name}: interrupted')
    self.close()
    return False
