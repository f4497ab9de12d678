"""Quiet terminal for long commands: framework logs go to a log file, the terminal shows progress and a summary.

The project rule: "Long-running commands show progress, keep framework logs off the terminal, and end with a
summary." For the whole run, file descriptors 1 and 2 point at the log file (os.dup2, in
`contracts/terminal_logs.py`, which `colorize-video` shares), so everything written there lands in it: Python
logging and absl (their handlers write to sys.stderr, i.e. fd 2), warnings, print(), and the C++ logs TensorFlow,
gRPC and abseil write straight to fd 2, in this process and in every child process (Beam's forkserver pool,
subprocesses), which inherit the descriptors. The terminal is reached only through duplicates of
the original descriptors kept here (not inherited by children), by:

  * one line per TFX node as it starts and finishes, from the LocalDagRunner's own absl records ("Component %s is
    running." / "... is finished.", "A cached execution %d is used.": tfx/orchestration/local/local_dag_runner.py,
    tfx/orchestration/portable/launcher.py), read by a logging handler:  `[2/5] ColorizerTrainer ... done in 96 s`;
    the total comes from a record carrying `extra={'pipeline_nodes': [...]}` (pipeline/run_local.py logs one);
  * the trainer's progress: records of the `trainer.*` loggers that read `step N/M ...` (trainer/train.py logs each
    step line it prints), forwarded indented;
  * `Console.print` (the command's own lines: its summary).

On failure the terminal gets one line naming the node that was running and the error, the last lines of the log
(the traceback included) and the log's path, and the process exits with status 1.

Use (start before TensorFlow/TFX are imported, so that their import-time banners go to the log too):

    from pipeline import console
    if __name__ == '__main__':
      console.start('demo')              # fds 1/2 -> outputs/logs/demo-<timestamp>.log from here on
    import tensorflow ...

    def main(argv):
      with console.start('demo') as out:  # the same Console; failures are reported as above
        out.relocate(log_dir)             # optional: next to this run's outputs, once the config is known
        ...
        out.print('=== Summary ===')

A process that ends before it enters the `with` block (a flag error) gets the log's tail and path on the terminal.
`--help` and friends are never captured.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import re
import shutil
import sys
import threading
import time
import traceback
from typing import Iterable, Optional, Sequence

from contracts import terminal_logs
from pipeline import console_handlers

DEFAULT_LOG_DIR = terminal_logs.DEFAULT_LOG_DIR
TAIL_LINES = 30

# (logger name prefix, pattern): records forwarded to the terminal, indented, while a node runs.
TRAINER_PROGRESS = (('trainer', re.compile(r'^step \d+/\d+\b')),)

_HELP_FLAGS = ('-h', '-?', '--help', '--helpshort', '--helpfull', '--helpxml')

_active: Optional['Console'] = None


def start(name: str, log_dir: str = DEFAULT_LOG_DIR,
          forward: Sequence[tuple[str, 're.Pattern[str]']] = TRAINER_PROGRESS) -> 'Console':
  """The process's Console: started on the first call (fds 1/2 -> `<log_dir>/<name>-<timestamp>.log`), the same
  one afterwards. With a help flag on the command line, a Console that leaves the terminal alone."""
  global _active
  if _active is not None and not _active.closed:
    return _active
  _active = Console(name, log_dir, forward, capture=not any(arg in _HELP_FLAGS for arg in sys.argv[1:]))
  return _active


class Console:
  """See the module docstring. Writes to the terminal only through `print` and its logging handler."""

  def __init__(self, name: str, log_dir: str, forward: Sequence[tuple[str, 're.Pattern[str]']] = TRAINER_PROGRESS,
               capture: bool = True):
    self.name = name
    self.capture = capture
    self.closed = False
    self.entered = False
    self._lock = threading.RLock()
    self._forward = tuple(forward)
    self._open_line: Optional[str] = None  # the node whose "[i/n] X ..." line awaits its ending
    self._nodes: list[str] = []             # this run's node ids in order, when a record announced them
    self._started: dict[str, float] = {}
    self._notes: dict[str, str] = {}
    self._count = 0
    self.current: Optional[str] = None      # the node running now
    # fds 1/2 -> the log, the C++ log levels quieted (contracts/terminal_logs.py); the terminal: _out, _err.
    self._capture = terminal_logs.Capture(name, log_dir, capture)
    self.log_path = self._capture.log_path
    self._out, self._err = self._capture.out, self._capture.err
    self._progress = console_handlers.ProgressHandler(self)
    self._fallback = console_handlers.FallbackHandler(self)
    root = logging.getLogger()
    root.addHandler(self._progress)
    root.addHandler(self._fallback)
    self._raise_to_info()
    atexit.register(self._at_exit)

  # --- the terminal -------------------------------------------------------------------------------------------

  def print(self, text: str = '') -> None:
    """A line (or lines) of the command's own output, on the terminal."""
    with self._lock:
      self._end_open_line()
      self._write(self._out, text + '\n')

  def _write(self, fd: int, text: str) -> None:
    data = text.encode('utf-8', 'replace')
    while data:
      data = data[os.write(fd, data):]

  def _end_open_line(self, suffix: str = '') -> None:
    if self._open_line is not None:
      self._write(self._out, suffix + '\n')
      self._open_line = None

  def _label(self, node: str) -> str:
    if node in self._nodes:
      return f'[{self._nodes.index(node) + 1}/{len(self._nodes)}] {node}'
    return f'[{self._count}] {node}'

  def node_started(self, node: str) -> None:
    with self._lock:
      self._count += 1
      self.current = node
      self._started[node] = time.perf_counter()
      self._notes.pop(node, None)
      self._end_open_line()
      self._write(self._out, f'{self._label(node)} ...')
      self._open_line = node

  def node_note(self, note: str) -> None:
    if self.current is not None:
      self._notes[self.current] = note

  def node_finished(self, node: str) -> None:
    with self._lock:
      seconds = time.perf_counter() - self._started.get(node, time.perf_counter())
      note = self._notes.get(node)
      ending = f'done in {seconds:.0f} s' + (f' ({note})' if note else '')
      if self._open_line == node:
        self._end_open_line(' ' + ending)
      else:
        self._end_open_line()
        self._write(self._out, f'{self._label(node)} {ending}\n')
      self.current = None

  def forward(self, text: str) -> None:
    with self._lock:
      self._end_open_line()
      self._write(self._out, f'      {text}\n')

  def announce(self, nodes: Iterable[str]) -> None:
    with self._lock:
      self._nodes = list(nodes)
      self._count = 0

  # --- the log file -------------------------------------------------------------------------------------------

  def relocate(self, log_dir: str) -> None:
    """Moves the log into `log_dir` (e.g. next to this run's outputs, once the config is known); call before
    child processes start. A `log_dir` that is a URL (gs://...) or cannot be written leaves it where it is."""
    if not self.capture or self.closed or '://' in log_dir:
      return
    target = os.path.join(log_dir, os.path.basename(self.log_path))
    if os.path.abspath(target) == os.path.abspath(self.log_path):
      return
    try:
      os.makedirs(log_dir, exist_ok=True)
      sys.stdout.flush()
      sys.stderr.flush()
      try:
        os.replace(self.log_path, target)  # same file system: fds 1/2 keep writing to the moved file
      except OSError:
        shutil.copyfile(self.log_path, target)
        terminal_logs.point_fds_at(target)
        os.remove(self.log_path)
    except OSError as e:
      logging.getLogger(__name__).warning('Log stays at %s (cannot move it to %s: %s)', self.log_path, log_dir, e)
      return
    self.log_path = target

  def tail(self, lines: int = TAIL_LINES) -> list[str]:
    if not self.log_path:
      return []
    sys.stdout.flush()
    sys.stderr.flush()
    with open(self.log_path, encoding='utf-8', errors='replace') as f:
      return [line.rstrip('\n') for line in collections.deque(f, maxlen=lines)]

  def _raise_to_info(self) -> None:
    """Lets INFO records through to the handlers (the file gets them; the progress comes from them)."""
    root = logging.getLogger()
    if root.level > logging.INFO or root.level == logging.NOTSET:
      root.setLevel(logging.INFO)
    absl_logger = logging.getLogger('absl')
    if absl_logger.level > logging.INFO:
      absl_logger.setLevel(logging.NOTSET)

  # --- the session --------------------------------------------------------------------------------------------

  def __enter__(self) -> 'Console':
    self.entered = True
    self._raise_to_info()  # absl's app.run set the levels from --verbosity after start()
    return self

  def __exit__(self, exc_type, exc, tb) -> bool:
    if exc_type is None or (issubclass(exc_type, SystemExit) and exc.code in (None, 0)):
      if self.log_path:
        self.print(f'Full log: {self.log_path}')
      self.close()
      return False
    if issubclass(exc_type, SystemExit):
      error = f'exited with status {exc.code}'
    elif issubclass(exc_type, KeyboardInterrupt):
      error = 'interrupted'
    else:
      message = str(exc).strip().splitlines()
      error = f'{exc_type.__name__}: {message[0]}' if message else exc_type.__name__
    traceback.print_exception(exc_type, exc, tb, file=sys.stderr)  # into the log, so the tail shows it
    self.fail(error)
    raise SystemExit(1) from None

  def fail(self, error: str) -> None:
    """Ends the session with `error`: one line naming the running node, the log's tail and its path."""
    with self._lock:
      where = f' in {self._label(self.current)}' if self.current else ''
      self._end_open_line(' failed' if self._open_line else '')
      lines = [f'{self.name} failed{where}: {error}']
      if self.log_path:
        tail = self.tail()
        lines += [f'--- last {len(tail)} lines of {self.log_path} ---', *tail, f'--- full log: {self.log_path}']
      self._write(self._err, '\n'.join(lines) + '\n')
    self.close()

  def close(self) -> None:
    """Gives the terminal back (fds 1/2) and removes the handlers; idempotent."""
    if self.closed:
      return
    self.closed = True
    root = logging.getLogger()
    root.removeHandler(self._progress)
    root.removeHandler(self._fallback)
    self._capture.release()

  def _at_exit(self) -> None:
    if self.closed:
      return
    if self.entered or not self.capture:
      self.close()
      return
    # The process ends before its run began (a flag error, an import error): what it said is in the log.
    try:
      sys.stdout.flush()
      sys.stderr.flush()
    except (OSError, ValueError):
      pass
    tail = self.tail()
    self._write(self._err, '\n'.join([f'--- {self.name} ended before its run began; last {len(tail)} lines of '
                                      f'{self.log_path} ---', *tail, '']))
    self.close()
