"""One film, end to end: read its frames, take their L (`lab_frames`, through the one Lab conversion), predict ab in
batches with the model, make it consistent across frames (`consistency`), recombine with the untouched input L and
write the MP4 with the sound (`writer`), never leaving a half-written output.
"""

from __future__ import annotations

import dataclasses
import fractions
import time
from typing import Callable

import av
import numpy as np

from contracts import limits
from serving.video import consistency as consistency_lib
from serving.video import errors
from serving.video import lab_frames
from serving.video import reader as reader_lib
from serving.video import writer as writer_lib
from serving.video.errors import VideoError

DEFAULT_BATCH = 8
COLOUR_NOTE = 'the input is in colour: it is converted to L first (its own colours are replaced by the model\'s)'


@dataclasses.dataclass(frozen=True)
class Options:
  consistency: consistency_lib.ConsistencyOptions | None = consistency_lib.ConsistencyOptions()  # None: per frame
  batch_size: int = DEFAULT_BATCH
  folder_rate: fractions.Fraction = reader_lib.DEFAULT_FOLDER_FPS   # a folder of frames has no rate of its own
  max_frame_pixels: int = limits.MAX_VIDEO_FRAME_PIXELS
  max_seconds: float | None = None                                  # the web page's clip limit
  crf: int = writer_lib.DEFAULT_CRF
  preset: str = writer_lib.DEFAULT_PRESET


@dataclasses.dataclass
class Summary:
  source: str
  output: str
  frames: int
  width: int
  height: int
  rate: fractions.Fraction
  audio: str
  colour_input: bool
  cuts: int
  seconds: float
  model_s: float
  consistency_s: float
  notes: list[str]

  @property
  def fps(self) -> float:
    return self.frames / self.seconds if self.seconds else 0.0


class FrameColorizer:
  """Frames in order -> Lab frames whose L is exactly the input's: the model per batch, then the consistency step
  frame by frame (none: per-frame colour)."""

  def __init__(self, predictor, options: consistency_lib.ConsistencyOptions | None, source: str = ''):
    self._predictor = predictor
    self._source = source
    self.consistency = consistency_lib.TemporalConsistency(options) if options is not None else None
    self.model_s = 0.0
    self.consistency_s = 0.0

  def colorize(self, l_batch: np.ndarray) -> np.ndarray:
    """L [N, H, W] (0-100) -> Lab [N, H, W, 3] with lab[..., 0] == l_batch."""
    start = time.perf_counter()
    predicted = self._predictor.predict(l_batch, self._source)
    self.model_s += time.perf_counter() - start
    if self.consistency is None:
      return np.concatenate([l_batch[..., None], predicted], axis=-1)
    start = time.perf_counter()
    labs = np.empty(l_batch.shape + (3,), np.float32)
    for i, (l, ab) in enumerate(zip(l_batch, predicted)):
      labs[i, ..., 0] = l
      labs[i, ..., 1:] = self.consistency.step(l, ab).ab
    self.consistency_s += time.perf_counter() - start
    return labs


def colorize_video(source: str, output: str, predictor, options: Options = Options(),
                   progress: Callable[[int], None] | None = None,
                   note: Callable[[str], None] | None = None,
                   on_start: Callable[[reader_lib.VideoInfo], None] | None = None) -> Summary:
  """Colorizes `source` (a video file or a folder of numbered frames) into the MP4 `output`.

  `on_start(info)` is called once the header is checked, `progress(n)` after every n frames written, `note(text)`
  once for what a person should know (colour input, padding).

  Raises:
    VideoError: with its reason (the output's name is then left untouched).
  """
  notes: list[str] = []

  def tell(text: str) -> None:
    notes.append(text)
    if note:
      note(text)

  start = time.perf_counter()
  reader = reader_lib.open_video(source, options.folder_rate, options.max_frame_pixels)
  try:
    info = reader.info
    if options.max_seconds is not None and (info.duration_s or 0) > options.max_seconds:
      raise VideoError(source, errors.TOO_LONG, f'{info.duration_s:.1f} s: the limit is {options.max_seconds:g} s')
    if on_start:
      on_start(info)
    colorizer = FrameColorizer(predictor, options.consistency, source)
    colour_input = False
    try:
      with writer_lib.Mp4Writer(output, info.width, info.height, info.rate, reader.audio_streams,
                                options.crf, options.preset) as writer:
        if writer.padded:
          tell(f'{info.width}x{info.height} has an odd side: padded to {writer.size[0]}x{writer.size[1]} '
               '(H.264 4:2:0 needs even sides)')

        def flush(batch: list[reader_lib.Frame]) -> None:
          nonlocal colour_input
          l, colour = lab_frames.luminance(np.stack([frame.rgb for frame in batch]))
          if colour and not colour_input:
            colour_input = True
            tell(COLOUR_NOTE)
          for frame, rgb in zip(batch, lab_frames.to_rgb8(colorizer.colorize(l))):
            writer.write(rgb, frame.time_s)
          if progress:
            progress(len(batch))

        batch: list[reader_lib.Frame] = []
        for frame in reader.frames(on_audio=writer.audio_packet):
          if options.max_seconds is not None and frame.time_s > options.max_seconds:
            raise VideoError(source, errors.TOO_LONG, f'frames past {options.max_seconds:g} s: the limit')
          batch.append(frame)
          if len(batch) == options.batch_size:
            flush(batch)
            batch = []
        if batch:
          flush(batch)
    except av.error.FFmpegError:  # the sound could not be copied or re-encoded, or the encoder failed
      raise VideoError(source, errors.CORRUPT, 'a stream could not be re-encoded or carried over') from None
    frames, audio = writer.frames, writer.audio.description
  finally:
    reader.close()
  return Summary(source=source, output=output, frames=frames, width=info.width, height=info.height, rate=info.rate,
                 audio=audio, colour_input=colour_input,
                 cuts=colorizer.consistency.cuts if colorizer.consistency else 0,
                 seconds=time.perf_counter() - start, model_s=colorizer.model_s,
                 consistency_s=colorizer.consistency_s, notes=notes)
