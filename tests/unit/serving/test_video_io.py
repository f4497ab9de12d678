"""Films in and out, with a real exported model: each common container (and a folder of frames) becomes an H.264
yuv420p MP4 at the source's frame rate, size and frame count, its sound kept (copied or re-encoded as AAC), its
luminance the input's; a colour input is said to be converted to L; odd sizes are padded and said so."""

import fractions
import os

import av
import numpy as np
from PIL import Image
import pytest

from benchmarks import video_clips
from contracts import colorspace
from serving.video import colorize
from serving.video import predictor as predictor_lib
from tests.conftest import sample_photo_paths

WIDTH, HEIGHT, FRAMES = 96, 64, 20


@pytest.fixture(scope='module')
def predictor(pushed_models):
  return predictor_lib.Predictor(str(pushed_models))


@pytest.fixture(scope='module')
def frames():
  photo = np.asarray(Image.open(sample_photo_paths(3)[1]).convert('RGB'))
  return video_clips.pan(photo, WIDTH, HEIGHT, FRAMES, dx=1.5)


def _gray(frame):
  """An old film's frame: the photo's L, no colour."""
  lab = colorspace.rgb8_to_lab(frame)
  lab[..., 1:] = 0
  return colorspace.lab_to_rgb8(lab)


def _probe(path):
  """(codec, pix_fmt, rate, size, frames decoded, audio codecs, audio seconds, L of every frame)."""
  with av.open(str(path)) as container:
    video = container.streams.video[0]
    audio = container.streams.audio
    audio_s = [float(a.duration * a.time_base) if a.duration else None for a in audio]
    ls = [colorspace.rgb8_to_lab(f.to_ndarray(format='rgb24'))[..., 0] for f in container.decode(video=0)]
    return (video.codec_context.name, video.codec_context.pix_fmt, video.average_rate,
            (video.codec_context.width, video.codec_context.height), len(ls), [a.codec_context.name for a in audio],
            audio_s, ls)


# (file, video codec, container format, audio codec, sample rate, what the output's audio must be)
CONTAINERS = [
    ('clip.mp4', 'libx264', None, 'aac', 44_100, 'aac (copied)'),
    ('clip.mkv', 'libx264', 'matroska', 'libopus', 48_000, 'opus -> aac'),
    ('clip.avi', 'mpeg4', 'avi', 'pcm_s16le', 44_100, 'pcm_s16le -> aac'),
    ('clip.webm', 'libvpx-vp9', 'webm', 'libopus', 48_000, 'opus -> aac'),
    ('clip.mov', 'libx264', 'mov', 'aac', 44_100, 'aac (copied)'),
]


@pytest.mark.parametrize('name,vcodec,fmt,acodec,rate,carried', CONTAINERS)
def test_round_trip_keeps_rate_size_frames_sound_and_luminance(predictor, frames, tmp_path, name, vcodec, fmt,
                                                               acodec, rate, carried):
  source = tmp_path / name
  fps = fractions.Fraction(25) if fmt != 'avi' else fractions.Fraction(24)
  video_clips.write_mp4(str(source), [_gray(f) for f in frames], fps, video_codec=vcodec, audio_codec=acodec, container_format=fmt,
                        sample_rate=rate)
  output = tmp_path / 'out' / 'colour.mp4'
  summary = colorize.colorize_video(str(source), str(output), predictor)
  codec, pix_fmt, out_rate, size, count, audio, audio_s, ls = _probe(output)
  assert (codec, pix_fmt, out_rate, size, count) == ('h264', 'yuv420p', fps, (WIDTH, HEIGHT), FRAMES)
  assert audio == ['aac'] and summary.audio == carried
  assert audio_s[0] == pytest.approx(FRAMES / fps, abs=0.1)  # the sound lasts as long as the pictures
  assert not summary.colour_input and summary.notes == []
  _, _, _, _, _, _, _, ls_in = _probe(source)
  assert max(float(np.abs(a - b).mean()) for a, b in zip(ls, ls_in)) < 1.5  # luminance kept (up to the codec)
  assert os.listdir(output.parent) == ['colour.mp4']  # no temporary left beside it


def test_a_folder_of_numbered_frames_and_the_colour_note(predictor, frames, tmp_path):
  folder = tmp_path / 'frames'
  folder.mkdir()
  for i, frame in enumerate(frames[:12]):  # frame_2 before frame_10: numbers, not names, give the order
    Image.fromarray(frame).save(folder / f'frame_{i + 1}.png')
  notes = []
  summary = colorize.colorize_video(str(folder), str(tmp_path / 'film.mp4'), predictor,
                                    colorize.Options(folder_rate=fractions.Fraction(18)), note=notes.append)
  assert summary.colour_input and notes == [colorize.COLOUR_NOTE]
  assert 'converted to L first' in notes[0]
  codec, _, rate, size, count, audio, _, ls = _probe(tmp_path / 'film.mp4')
  assert (codec, rate, size, count, audio) == ('h264', 18, (WIDTH, HEIGHT), 12, [])
  truth = [colorspace.rgb8_to_lab(f)[..., 0] for f in frames[:12]]
  assert max(float(np.abs(a - b).mean()) for a, b in zip(ls, truth)) < 1.5  # in order, luminance kept


def test_odd_sizes_are_padded_and_said(predictor, frames, tmp_path):
  source = tmp_path / 'odd.mkv'
  odd = [f[:63, :95] for f in frames[:6]]
  video_clips.write_mp4(str(source), odd, 24, video_codec='ffv1', audio=False, container_format='matroska',
                        pix_fmt='yuv444p')
  summary = colorize.colorize_video(str(source), str(tmp_path / 'odd.mp4'), predictor)
  assert any('odd side: padded to 96x64' in n for n in summary.notes)
  assert _probe(tmp_path / 'odd.mp4')[3] == (96, 64)
