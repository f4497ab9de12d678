"""Reading a video's frames as 8-bit sRGB: any container FFmpeg demuxes (MP4/H.264, MKV, AVI, WebM, MOV, ...) through
PyAV, or a folder of numbered frame images; checked before the first frame is decoded (empty, not a video, frame
size over the limit) and while decoding (truncated, corrupt), each failure a `VideoError` naming the file.

The audio streams are not decoded here: their packets are handed, as they are demuxed, to a callback (the writer
copies or transcodes them), so a film is read once.
"""

from __future__ import annotations

import dataclasses
import fractions
import os
import re
from typing import Callable, Iterator, Protocol

import av
import numpy as np

from contracts import decode
from contracts import limits
from serving.video import containers
from serving.video.errors import VideoError
from serving.video import errors

DEFAULT_FOLDER_FPS = fractions.Fraction(24)
FRAME_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
# A video stream whose frame count or duration the container declares may decode a little short (a last
# incomplete GOP, rounding); fewer frames than this share of the declared ones is a truncated file.
_DECLARED_SHARE = 0.98
_STILL_IMAGE_DEMUXERS = ('image2', 'gif')  # and every `*_pipe` (png_pipe, jpeg_pipe, ...): one still image


@dataclasses.dataclass(frozen=True)
class VideoInfo:
  """What the header says, before a frame is decoded."""
  path: str
  width: int
  height: int
  rate: fractions.Fraction      # frames per second (the stream's average rate)
  frames: int | None            # declared frame count, when the container has one
  duration_s: float | None
  container: str                # FFmpeg's demuxer name, or `frames` for a folder of images
  codec: str
  audio: tuple[str, ...] = ()   # codec names of the audio streams


@dataclasses.dataclass
class Frame:
  rgb: np.ndarray               # uint8 [H, W, 3]
  time_s: float                 # presentation time


class Reader(Protocol):
  info: VideoInfo
  audio_streams: list

  def frames(self, on_audio: Callable[[av.Packet], None] | None = None) -> Iterator[Frame]: ...

  def close(self) -> None: ...


def _too_large(path: str, width: int, height: int, max_pixels: int) -> VideoError:
  return VideoError(path, errors.TOO_LARGE, f'{width}x{height} = {width * height} pixels per frame: the limit is '
                                            f'{max_pixels} pixels')


class ContainerReader:
  """A video file through PyAV: the first video stream, and the packets of every audio stream."""

  def __init__(self, path: str, max_frame_pixels: int = limits.MAX_VIDEO_FRAME_PIXELS):
    self.path = path
    if not os.path.exists(path):
      raise VideoError(path, errors.UNREADABLE, 'no such file')
    try:
      size = os.path.getsize(path)
      head = containers.read_head(path)
    except OSError:
      raise VideoError(path, errors.UNREADABLE) from None
    if size == 0:
      raise VideoError(path, errors.EMPTY, '0 bytes')
    self._family = containers.kind(head)
    try:
      self._container = av.open(path, metadata_errors='ignore')
    except (av.error.FFmpegError, OSError, ValueError):
      raise self._unreadable('the container cannot be opened') from None
    try:
      self._check_streams(max_frame_pixels)
    except BaseException:
      self._container.close()
      raise

  def _unreadable(self, what: str) -> VideoError:
    """The error for bytes FFmpeg refuses: truncated when the container's sizes run past the end of the file,
    corrupt for another known container, not a video when no container signature is there."""
    name = containers.NAMES.get(self._family, '')
    if self._family and containers.is_cut_short(self.path):
      return VideoError(self.path, errors.TRUNCATED, f'{name}: {what}; the file is shorter than its container '
                                                     'declares')
    if self._family:
      return VideoError(self.path, errors.CORRUPT, f'{name}: {what}')
    return VideoError(self.path, errors.NOT_A_VIDEO, 'no known video container signature')

  def _check_streams(self, max_frame_pixels: int) -> None:
    container = self._container
    demuxer = container.format.name
    if not container.streams.video:
      detail = 'audio only' if container.streams.audio else 'no video stream'
      raise VideoError(self.path, errors.NOT_A_VIDEO, detail)
    if demuxer in _STILL_IMAGE_DEMUXERS or demuxer.endswith('_pipe'):
      raise VideoError(self.path, errors.NOT_A_VIDEO, f'a still image ({demuxer.replace("_pipe", "")})')
    stream = container.streams.video[0]
    stream.thread_type = 'AUTO'  # frame- and slice-threaded decoding
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height <= 0:
      raise self._unreadable('no frame size in the video stream')
    if width * height > max_frame_pixels:
      raise _too_large(self.path, width, height, max_frame_pixels)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or rate <= 0:
      rate = DEFAULT_FOLDER_FPS
    duration = (float(stream.duration * stream.time_base) if stream.duration and stream.time_base
                else container.duration / av.time_base if container.duration else None)
    self._stream = stream
    self.audio_streams = list(container.streams.audio)
    self.info = VideoInfo(
        path=self.path, width=width, height=height, rate=fractions.Fraction(rate), frames=stream.frames or None,
        duration_s=duration, container=demuxer, codec=stream.codec_context.name,
        audio=tuple(a.codec_context.name for a in self.audio_streams))
    self._declared_end = (float((stream.start_time or 0) + stream.duration) * stream.time_base
                          if stream.duration and stream.time_base else None)

  def frames(self, on_audio: Callable[[av.Packet], None] | None = None) -> Iterator[Frame]:
    """The decoded frames in presentation order; audio packets go to `on_audio` as they are demuxed.

    Raises:
      VideoError: truncated (the file ends before the sizes, frame count or duration it declares) or corrupt.
    """
    streams = [self._stream] + (self.audio_streams if on_audio else [])
    decoded, last_time = 0, None
    step = 1.0 / float(self.info.rate)
    try:
      for packet in self._container.demux(streams):
        if packet.stream.type == 'audio':
          if packet.dts is not None:
            on_audio(packet)
          continue
        for frame in packet.decode():
          time_s = frame.time if frame.time is not None else decoded * step
          yield Frame(frame.to_ndarray(format='rgb24'), time_s)
          decoded += 1
          last_time = time_s
    except av.error.FFmpegError:
      raise self._unreadable(f'decoding failed after frame {decoded}') from None
    if not decoded:
      raise self._unreadable('no frame could be decoded')
    self._check_complete(decoded, last_time + step)

  def _check_complete(self, decoded: int, end_s: float) -> None:
    declared = self.info.frames
    if declared and decoded < _DECLARED_SHARE * declared - 1:
      raise VideoError(self.path, errors.TRUNCATED, f'{decoded} of the {declared} frames it declares')
    if self._declared_end and end_s < _DECLARED_SHARE * self._declared_end - 2.0 / float(self.info.rate):
      raise VideoError(self.path, errors.TRUNCATED,
                       f'frames up to {end_s:.2f} s of the {self._declared_end:.2f} s it declares')
    if containers.is_cut_short(self.path):
      raise VideoError(self.path, errors.TRUNCATED, f'{containers.NAMES[self._family]}: the file is shorter than '
                                                    f'its container declares: it ends after frame {decoded}')

  def close(self) -> None:
    self._container.close()


def _frame_number(name: str) -> tuple[int, str]:
  numbers = re.findall(r'\d+', os.path.splitext(name)[0])
  return (int(numbers[-1]) if numbers else -1, name)


class FolderReader:
  """A folder of numbered frame images (`frame_0001.png`, ...), in the order of the last number in each name,
  at `rate` frames per second; no audio. Every frame must have the first one's size."""

  def __init__(self, path: str, rate: fractions.Fraction = DEFAULT_FOLDER_FPS,
               max_frame_pixels: int = limits.MAX_VIDEO_FRAME_PIXELS):
    self.path = path
    self._max_pixels = max_frame_pixels
    names = [n for n in os.listdir(path) if n.lower().endswith(FRAME_EXTENSIONS) and not n.startswith('.')]
    self._files = [os.path.join(path, n) for n in sorted(names, key=_frame_number)]
    if not self._files:
      raise VideoError(path, errors.EMPTY, f'no frame images ({", ".join(FRAME_EXTENSIONS)}) in the folder')
    first = self._decode(self._files[0])
    self._first = first
    height, width = first.shape[:2]
    self.audio_streams: list = []
    self.info = VideoInfo(path=path, width=width, height=height, rate=fractions.Fraction(rate),
                          frames=len(self._files), duration_s=len(self._files) / float(rate), container='frames',
                          codec='images')

  def _decode(self, file: str) -> np.ndarray:
    try:
      with open(file, 'rb') as f:
        data = f.read()
      return np.asarray(decode.decode_pil(data, min_side=1, max_pixels=self._max_pixels,
                                          formats=decode.ACCEPTED_FORMATS | {'TIFF'}))
    except OSError:
      raise VideoError(self.path, errors.UNREADABLE, f'frame {os.path.basename(file)}') from None
    except decode.UnusableImage as e:
      detail = f'frame {os.path.basename(file)}' + (f': {e.detail}' if e.reason == errors.TOO_LARGE else '')
      reason = e.reason if e.reason in (errors.TOO_LARGE, errors.TRUNCATED, errors.EMPTY) else errors.CORRUPT
      raise VideoError(self.path, reason, detail) from None

  def frames(self, on_audio: Callable[[av.Packet], None] | None = None) -> Iterator[Frame]:
    del on_audio
    step = 1.0 / float(self.info.rate)
    for index, file in enumerate(self._files):
      rgb = self._first if index == 0 else self._decode(file)
      if rgb.shape[:2] != (self.info.height, self.info.width):
        raise VideoError(self.path, errors.CORRUPT, f'frame {os.path.basename(file)} is {rgb.shape[1]}x'
                                                    f'{rgb.shape[0]}, the first is {self.info.width}x'
                                                    f'{self.info.height}')
      yield Frame(rgb, index * step)

  def close(self) -> None:
    pass


def open_video(path: str, folder_rate: fractions.Fraction = DEFAULT_FOLDER_FPS,
               max_frame_pixels: int = limits.MAX_VIDEO_FRAME_PIXELS) -> Reader:
  """A reader for a video file or a folder of numbered frames, its header checked (see the readers).

  Raises:
    VideoError: empty, not_a_video, too_large, truncated, corrupt, unreadable.
  """
  if os.path.isdir(path):
    return FolderReader(path, folder_rate, max_frame_pixels)
  return ContainerReader(path, max_frame_pixels)

