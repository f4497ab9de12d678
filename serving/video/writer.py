"""Writing the colorized film: MP4, H.264 in yuv420p (what every player and browser plays), at the source's frame
rate and size, the sound carried over (`video.audio`).

Nothing is ever written half: the file is written under a temporary name beside the output
(`.<name>.<random>.partial`, the convention of `serving.outputs`, whose `remove_partial_files` clears what a killed
run left) and renamed onto the output's name only once complete (`commit`); a failure removes it (`abort`).
"""

from __future__ import annotations

import fractions
import os
import uuid

import av
import numpy as np

from serving import outputs
from serving.video import audio as audio_lib

# x264's constant-quality factor (18: visually lossless for most films) and speed preset.
DEFAULT_CRF = 18
DEFAULT_PRESET = 'veryfast'


def temporary_path(path: str) -> str:
  folder, name = os.path.split(os.path.abspath(path))
  return os.path.join(folder, f'.{name}.{uuid.uuid4().hex[:12]}{outputs.PARTIAL_SUFFIX}')


class Mp4Writer:
  """Frames (uint8 RGB, with their times) and audio packets in, one complete MP4 out. A context manager: commits
  on a normal exit, aborts on an exception.

  yuv420p needs an even width and height: an odd side is padded by repeating its last row or column (`padded`).
  """

  def __init__(self, path: str, width: int, height: int, rate: fractions.Fraction, audio_sources: list = (),
               crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET):
    self.path = path
    self.rate = fractions.Fraction(rate)
    self.size = (width + width % 2, height + height % 2)
    self.padded = self.size != (width, height)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    self._temporary = temporary_path(path)
    # faststart: the index (moov) goes before the frames, so a browser plays the file while it downloads.
    self._container = av.open(self._temporary, 'w', format='mp4', options={'movflags': '+faststart'})
    try:
      self._video = self._container.add_stream('libx264', rate=self.rate)
      self._video.width, self._video.height = self.size
      self._video.pix_fmt = 'yuv420p'
      self._video.options = {'crf': str(crf), 'preset': preset}
      self._video.codec_context.thread_count = 0  # x264's own choice of threads
      self.audio = audio_lib.AudioCarrier(self._container, list(audio_sources))
    except BaseException:
      self.abort()
      raise
    self._time_base = fractions.Fraction(1) / self.rate
    self._last_pts = -1
    self.frames = 0

  def write(self, rgb: np.ndarray, time_s: float) -> None:
    """One frame at its presentation time (rounded to the output's frame grid, never before the previous)."""
    if self.padded:
      rgb = np.pad(rgb, ((0, self.size[1] - rgb.shape[0]), (0, self.size[0] - rgb.shape[1]), (0, 0)), mode='edge')
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format='rgb24')
    pts = max(int(round(time_s * self.rate)), self._last_pts + 1)
    frame.pts, frame.time_base = pts, self._time_base
    self._last_pts = pts
    for packet in self._video.encode(frame):
      self._container.mux(packet)
    self.frames += 1

  def audio_packet(self, packet: av.Packet) -> None:
    self.audio.packet(packet)

  def commit(self) -> str:
    """Flushes the encoders, closes the file and renames it onto the output's name; returns that path."""
    try:
      for packet in self._video.encode(None):
        self._container.mux(packet)
      self.audio.flush()
      self._container.close()
      with open(self._temporary, 'rb+') as f:
        os.fsync(f.fileno())
      os.replace(self._temporary, self.path)
    except BaseException:
      self.abort()
      raise
    return self.path

  def abort(self) -> None:
    """Closes and removes the temporary file; the output's name is left untouched."""
    try:
      self._container.close()
    except Exception:  # pylint: disable=broad-except  # already closed, or the muxer failed: removed below anyway
      pass
    try:
      os.remove(self._temporary)
    except OSError:
      pass

  def __enter__(self) -> 'Mp4Writer':
    return self

  def __exit__(self, exc_type, exc, tb) -> bool:
    if exc_type is None:
      self.commit()
    else:
      self.abort()
    return False
