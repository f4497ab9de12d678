"""Test clips with known motion, made from colour photos: each frame is the photo moved by an exact affine map
(a pan, a zoom), so the true colour of every frame is known; shots of different photos joined by hard cuts.
Shared by benchmarks/bench_video.py and the video tests; `write_mp4` encodes a clip, with a sound track, as a user's
file would be."""

from __future__ import annotations

import fractions
from typing import Sequence

import av
import cv2
import numpy as np

MARGIN = 1.35  # the photo is scaled to cover the frame with this much to spare, room for the motion


def _cover(photo: np.ndarray, width: int, height: int) -> np.ndarray:
  scale = MARGIN * max(width / photo.shape[1], height / photo.shape[0])
  size = (int(np.ceil(photo.shape[1] * scale)), int(np.ceil(photo.shape[0] * scale)))
  return cv2.resize(photo, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)


def _render(big: np.ndarray, matrices: Sequence[np.ndarray], width: int, height: int) -> list[np.ndarray]:
  return [cv2.warpAffine(big, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
          for m in matrices]


def pan(photo: np.ndarray, width: int, height: int, frames: int, dx: float, dy: float = 0.0) -> list[np.ndarray]:
  """The frame window slides over the photo by (dx, dy) pixels per frame (sub-pixel steps allowed)."""
  big = _cover(photo, width, height)
  x0 = (big.shape[1] - width) / 2 - dx * (frames - 1) / 2
  y0 = (big.shape[0] - height) / 2 - dy * (frames - 1) / 2
  return _render(big, [np.float32([[1, 0, -(x0 + t * dx)], [0, 1, -(y0 + t * dy)]]) for t in range(frames)],
                 width, height)


def zoom(photo: np.ndarray, width: int, height: int, frames: int, rate: float) -> list[np.ndarray]:
  """The photo grows about the frame's centre by `rate` per frame (1.01: 1% per frame)."""
  big = _cover(photo, width, height)
  cx, cy = big.shape[1] / 2, big.shape[0] / 2
  matrices = []
  for t in range(frames):
    s = rate ** t
    matrices.append(np.float32([[s, 0, width / 2 - s * cx], [0, s, height / 2 - s * cy]]))
  return _render(big, matrices, width, height)


def shots(photos: Sequence[np.ndarray], width: int, height: int, frames_per_shot: int) -> tuple[list[np.ndarray], list[int]]:
  """Pan right, cut, zoom in, cut, pan down-left, ... one shot per photo: (frames, the first frame of every shot
  after the first, i.e. the cuts)."""
  frames, cuts = [], []
  moves = (lambda p: pan(p, width, height, frames_per_shot, dx=2.5 * width / 640),
           lambda p: zoom(p, width, height, frames_per_shot, rate=1.006),
           lambda p: pan(p, width, height, frames_per_shot, dx=-1.5 * width / 640, dy=1.2 * width / 640))
  for i, photo in enumerate(photos):
    if i:
      cuts.append(len(frames))
    frames += moves[i % len(moves)](photo)
  return frames, cuts


def write_mp4(path: str, frames: Sequence[np.ndarray], fps: int | fractions.Fraction = 24, audio: bool = True,
              video_codec: str = 'libx264', audio_codec: str = 'aac', container_format: str | None = None,
              sample_rate: int = 44_100, pix_fmt: str = 'yuv420p') -> None:
  """Encodes RGB frames (and a 440 Hz tone as long as the frames) into a file, as a camera or an editor would."""
  container = av.open(path, 'w', format=container_format)
  height, width = frames[0].shape[:2]
  video = container.add_stream(video_codec, rate=fps)
  video.width, video.height, video.pix_fmt = width, height, pix_fmt
  sound = container.add_stream(audio_codec, rate=sample_rate) if audio else None
  if sound is not None:
    sound.layout = 'stereo'
  for frame in frames:
    for packet in video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format='rgb24')):
      container.mux(packet)
  for packet in video.encode(None):
    container.mux(packet)
  if sound is not None:
    samples = int(sample_rate * len(frames) / float(fps))
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / sample_rate)).astype(np.float32)
    planes = np.stack([tone, tone])
    fmt = 's16' if audio_codec.startswith('pcm_s16') else 'fltp'
    for start in range(0, samples, 1024):
      chunk = planes[:, start:start + 1024]
      if fmt == 's16':
        chunk = (chunk.T.reshape(1, -1) * 32767).astype(np.int16)
      frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format=fmt, layout='stereo')
      frame.sample_rate, frame.pts = sample_rate, start
      for packet in sound.encode(frame):
        container.mux(packet)
    for packet in sound.encode(None):
      container.mux(packet)
  container.close()
