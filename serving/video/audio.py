"""Keeping a film's sound: every audio stream of the input gets a stream in the output MP4, its packets copied
as they are when MP4 holds the codec (no quality lost, no time spent), else decoded and re-encoded as AAC (PCM from
AVI/MOV, Vorbis and Opus from MKV/WebM, ...)."""

from __future__ import annotations

import av

# Codecs the MP4 muxer holds and every common player plays from MP4: copied. Others are transcoded to AAC.
COPIED_CODECS = frozenset({'aac', 'mp3', 'ac3', 'eac3', 'alac'})
AAC_BIT_RATE = 192_000
# AAC layouts for a channel count; other counts are downmixed to stereo.
_AAC_LAYOUTS = {1: 'mono', 2: 'stereo', 6: '5.1'}


class _Copy:
  def __init__(self, output: av.container.OutputContainer, source):
    self._output = output
    self.stream = output.add_stream_from_template(source)
    self.description = f'{source.codec_context.name} (copied)'

  def packet(self, packet: av.Packet) -> None:
    packet.stream = self.stream
    self._output.mux(packet)

  def flush(self) -> None:
    pass


class _Transcode:
  def __init__(self, output: av.container.OutputContainer, source):
    self._output = output
    rate = source.codec_context.sample_rate or 48_000
    layout = _AAC_LAYOUTS.get(source.codec_context.channels, 'stereo')
    self._resampler = av.AudioResampler(format='fltp', layout=layout, rate=rate)
    self.stream = output.add_stream('aac', rate=rate)
    self.stream.layout = layout
    self.stream.format = 'fltp'
    self.stream.bit_rate = AAC_BIT_RATE
    self.description = f'{source.codec_context.name} -> aac'

  def _encode(self, frames) -> None:
    for frame in frames:
      frame.pts = None  # the encoder counts samples from the start
      for packet in self.stream.encode(frame):
        self._output.mux(packet)

  def packet(self, packet: av.Packet) -> None:
    for frame in packet.decode():
      self._encode(self._resampler.resample(frame))

  def flush(self) -> None:
    self._encode(self._resampler.resample(None))
    for packet in self.stream.encode(None):
      self._output.mux(packet)


class AudioCarrier:
  """Routes the input's audio packets (`packet`, in demux order) to their output streams; `flush` at the end."""

  def __init__(self, output: av.container.OutputContainer, sources: list):
    self._routes = {}
    for source in sources:
      route = _Copy if source.codec_context.name in COPIED_CODECS else _Transcode
      self._routes[source.index] = route(output, source)

  @property
  def description(self) -> str:
    return ', '.join(route.description for route in self._routes.values()) or 'none'

  def packet(self, packet: av.Packet) -> None:
    route = self._routes.get(packet.stream.index)
    if route is not None:
      route.packet(packet)

  def flush(self) -> None:
    for route in self._routes.values():
      route.flush()
