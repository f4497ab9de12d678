"""A quiet terminal for `colorize-video`: framework logs go to a log file, the terminal shows the progress bar, the
notes and the summary.

The project's rule for long commands, done the way `pipeline/console.py` does it for the pipeline's commands (which
serving/ may not import: the layers point down): the C++ log levels set before TensorFlow loads
(`QUIET_ENVIRONMENT`, the same values), then file descriptors 1 and 2 pointed at `<log_dir>/<name>-<time>-<pid>.log`
(os.dup2), so TensorFlow's, abseil's and FFmpeg's writes land there; the terminal is reached only through
duplicates of the original descriptors. On an unexpected error the terminal gets one line and the log's path; the
traceback is in the log.
"""

from __future__ import annotations

import os
import sys
import time
import traceback

QUIET_ENVIRONMENT = {'TF_CPP_MIN_LOG_LEVEL': '1', 'GRPC_VERBOSITY': 'ERROR'}
DEFAULT_LOG_DIR = os.path.join('outputs', 'logs')


class Terminal:
  """`stream`: a text file on the original stderr (for the progress bar); `print`: a line there."""

  def __init__(self, name: str, log_dir: str = DEFAULT_LOG_DIR, capture: bool = True):
    for key, value in QUIET_ENVIRONMENT.items():
      os.environ.setdefault(key, value)
    self.name = name
    self.capture = capture
    self.log_path = ''
    sys.stdout.flush()
    sys.stderr.flush()
    self._saved = (os.dup(1), os.dup(2))  # not inherited by child processes
    self.stream = os.fdopen(os.dup(self._saved[1]), 'w', buffering=1, encoding='utf-8', errors='replace')
    if capture:
      os.makedirs(log_dir, exist_ok=True)
      self.log_path = os.path.join(log_dir, f'{name}-{time.strftime("%Y%m%d-%H%M%S")}-{os.getpid()}.log')
      fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
      os.dup2(fd, 1)
      os.dup2(fd, 2)
      os.close(fd)

  def print(self, text: str = '') -> None:
    self.stream.write(text + '\n')
    self.stream.flush()

  def close(self) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    if self.capture:
      os.dup2(self._saved[0], 1)
      os.dup2(self._saved[1], 2)
    for fd in self._saved:
      os.close(fd)
    self.stream.close()

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
