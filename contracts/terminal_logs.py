"""Keeping framework logs off the terminal: the one place where the project's commands (`pipeline/console.py` for
the pipeline's, `serving/video/terminal.py` for `colorize-video`, `colorize`, the photo batch job) quiet TensorFlow,
gRPC and abseil and send what they still write to a log file; without capture (their `--verbose`) the logs stay on
the terminal at the frameworks' own levels.

Two parts, used together:
  * `quiet_frameworks`: the C++ log levels, set (unless already set) before TensorFlow is imported. They filter
    only what the C++ libraries log, never numerics: TensorFlow 2.21 then drops its cpu_feature_guard INFO banner;
    its oneDNN and cuda-stub banners are written before it reads the variable, so those still land in the log.
  * `Capture`: file descriptors 1 and 2 pointed at `<log_dir>/<name>-<time>-<pid>.log` (os.dup2), so that every
    write to them lands there (Python logging, absl, warnings, print(), the C++ logs, FFmpeg's), in this process
    and in the child processes that inherit them; the terminal stays reachable through duplicates of the original
    descriptors, which children do not inherit.
"""

from __future__ import annotations

import logging
import os
import sys
import time

# What the C++ libraries read at start-up; the user's own setting wins (setdefault).
QUIET_ENVIRONMENT = {'TF_CPP_MIN_LOG_LEVEL': '1', 'GRPC_VERBOSITY': 'ERROR'}
DEFAULT_LOG_DIR = os.path.join('outputs', 'logs')
# Loggers whose import-time warnings say nothing about this project, raised to ERROR before their module loads:
# Beam's MongoDB connector warns when pymongo's bson is missing (no MongoDB IO here), which would otherwise reach
# the terminal through logging's last-resort handler before a command's capture starts.
KNOWN_HARMLESS_LOGGERS = ('apache_beam.io.mongodbio',)


def mute_known_harmless() -> None:
  """Raises `KNOWN_HARMLESS_LOGGERS` to ERROR; call before Beam is imported (serving/__init__.py does)."""
  for name in KNOWN_HARMLESS_LOGGERS:
    logging.getLogger(name).setLevel(logging.ERROR)


def quiet_frameworks() -> None:
  """Sets `QUIET_ENVIRONMENT` where the variables are unset; call before TensorFlow is imported."""
  for key, value in QUIET_ENVIRONMENT.items():
    os.environ.setdefault(key, value)


def point_fds_at(path: str) -> None:
  """Points file descriptors 1 and 2 at `path` (appending), after flushing what Python still buffers."""
  sys.stdout.flush()
  sys.stderr.flush()
  fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
  try:
    os.dup2(fd, 1)
    os.dup2(fd, 2)
  finally:
    os.close(fd)


class Capture:
  """fds 1/2 -> a new log file under `log_dir` (with `capture`; without it the terminal is left alone), the
  terminal kept as `out` and `err` (duplicates of the original fds 1 and 2) and `stream` (a text file on `err`,
  for progress bars and summaries) until `release`."""

  def __init__(self, name: str, log_dir: str = DEFAULT_LOG_DIR, capture: bool = True):
    self.capture = capture
    self.log_path = ''
    sys.stdout.flush()
    sys.stderr.flush()
    self.out = os.dup(1)  # os.dup: not inherited by child processes
    self.err = os.dup(2)
    self.stream = os.fdopen(os.dup(self.err), 'w', buffering=1, encoding='utf-8', errors='replace')
    self.released = False
    if capture:
      quiet_frameworks()
      os.makedirs(log_dir, exist_ok=True)
      self.log_path = os.path.join(log_dir, f'{name}-{time.strftime("%Y%m%d-%H%M%S")}-{os.getpid()}.log')
      point_fds_at(self.log_path)

  def release(self) -> None:
    """Gives fds 1/2 back to the terminal and closes the duplicates; idempotent."""
    if self.released:
      return
    self.released = True
    self.stream.close()
    sys.stdout.flush()
    sys.stderr.flush()
    if self.capture:
      os.dup2(self.out, 1)
      os.dup2(self.err, 2)
    os.close(self.out)
    os.close(self.err)
