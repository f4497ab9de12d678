"""Bad videos fail with the project's reason words and a sentence naming the file (never FFmpeg's or PyAV's text),
before the model sees a frame where the header tells; nothing is written half: the output's name keeps what it
had (or stays absent) and no temporary file is left beside it."""

import os
import wave

import numpy as np
from PIL import Image
import pytest

from benchmarks import video_clips
from contracts import limits
from serving.video import colorize
from serving.video import errors
from serving.video import reader
from serving.video.errors import VideoError
from tests.conftest import sample_photo_paths

FRAMEWORK_TEXT = ('Invalid data', 'FFmpeg', 'avformat', 'Errno', 'Traceback', 'av.error')


class NeverCalled:
  """Where a failure must be found before any frame reaches the model."""

  def predict(self, l_batch, source=''):
    raise AssertionError('the model was called')


class Gray:
  def predict(self, l_batch, source=''):
    return np.zeros(l_batch.shape + (2,), np.float32)


@pytest.fixture(scope='module')
def clip_frames():
  photo = np.asarray(Image.open(sample_photo_paths(4)[2]).convert('RGB'))
  return video_clips.pan(photo, 96, 64, 24, dx=1.0)


def _fails(tmp_path, source, reason, predictor=NeverCalled()):
  output = tmp_path / 'out' / 'result.mp4'
  output.parent.mkdir(exist_ok=True)
  output.write_bytes(b'an earlier result')
  with pytest.raises(VideoError) as raised:
    colorize.colorize_video(str(source), str(output), predictor)
  error = raised.value
  assert error.reason == reason, str(error)
  assert str(error).startswith(os.path.basename(str(source)) + ': ' + reason + ': ')
  assert not any(text in str(error) for text in FRAMEWORK_TEXT), str(error)
  assert output.read_bytes() == b'an earlier result'  # untouched
  assert os.listdir(output.parent) == ['result.mp4']  # no .partial left
  return error


def test_zero_length_file(tmp_path):
  (tmp_path / 'empty.mp4').write_bytes(b'')
  assert 'the file is empty' in _fails(tmp_path, tmp_path / 'empty.mp4', errors.EMPTY).sentence


def test_missing_file(tmp_path):
  _fails(tmp_path, tmp_path / 'nowhere.mp4', errors.UNREADABLE)


def test_truncated_mp4_with_its_index_at_the_end(clip_frames, tmp_path):
  full = tmp_path / 'full.mp4'
  video_clips.write_mp4(str(full), clip_frames)
  data = full.read_bytes()
  (tmp_path / 'cut.mp4').write_bytes(data[:len(data) // 2])
  error = _fails(tmp_path, tmp_path / 'cut.mp4', errors.TRUNCATED)
  assert 'ends before the video does' in error.sentence and 'shorter than its container declares' in error.sentence


def test_truncated_mp4_with_its_index_first_is_found_after_decoding_and_removed(clip_frames, tmp_path):
  """A web-ready MP4 (moov first) cut short opens and decodes: its missing frames are found at the end, after
  frames were already written, and the temporary file goes."""
  full = tmp_path / 'faststart.mp4'
  colorize.colorize_video(_write(tmp_path, clip_frames), str(full), Gray())  # our writer puts moov first
  data = full.read_bytes()
  (tmp_path / 'cut_faststart.mp4').write_bytes(data[:int(len(data) * 0.6)])
  _fails(tmp_path, tmp_path / 'cut_faststart.mp4', errors.TRUNCATED, Gray())


def _write(tmp_path, frames, name='source.mkv', **kwargs):
  path = str(tmp_path / name)
  video_clips.write_mp4(path, frames, container_format='matroska', audio_codec='libopus', sample_rate=48_000,
                        **kwargs)
  return path


def test_truncated_mkv(clip_frames, tmp_path):
  data = open(_write(tmp_path, clip_frames), 'rb').read()
  (tmp_path / 'cut.mkv').write_bytes(data[:len(data) // 2])
  _fails(tmp_path, tmp_path / 'cut.mkv', errors.TRUNCATED, Gray())


def test_not_a_video(tmp_path):
  (tmp_path / 'notes.mp4').write_text('a shopping list, not a film')
  assert 'not a video' in _fails(tmp_path, tmp_path / 'notes.mp4', errors.NOT_A_VIDEO).sentence
  Image.new('RGB', (64, 48), (200, 10, 10)).save(tmp_path / 'still.png')
  assert 'a still image' in _fails(tmp_path, tmp_path / 'still.png', errors.NOT_A_VIDEO).sentence
  with wave.open(str(tmp_path / 'sound.wav'), 'wb') as w:
    w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
    w.writeframes(np.zeros(8000, np.int16).tobytes())
  assert 'audio only' in _fails(tmp_path, tmp_path / 'sound.wav', errors.NOT_A_VIDEO).sentence


def test_too_large_frames_are_refused_from_the_header(tmp_path):
  width, height = 4352, 2304  # 10.0 megapixels a frame, over the 9.4 limit
  assert width * height > limits.MAX_VIDEO_FRAME_PIXELS
  path = str(tmp_path / 'huge.mp4')
  video_clips.write_mp4(path, [np.zeros((height, width, 3), np.uint8)], audio=False)
  error = _fails(tmp_path, path, errors.TOO_LARGE)
  assert f'{width}x{height} = {width * height} pixels per frame' in error.sentence
  assert f'the limit is {limits.MAX_VIDEO_FRAME_PIXELS} pixels' in error.sentence


def test_bad_frame_folders(clip_frames, tmp_path):
  (tmp_path / 'none').mkdir()
  _fails(tmp_path, tmp_path / 'none', errors.EMPTY)
  mixed = tmp_path / 'mixed'
  mixed.mkdir()
  Image.fromarray(clip_frames[0]).save(mixed / '0001.png')
  Image.fromarray(clip_frames[1][:32]).save(mixed / '0002.png')
  assert 'frame 0002.png is 96x32, the first is 96x64' in _fails(tmp_path, mixed, errors.CORRUPT, Gray()).sentence
  cut = tmp_path / 'cut'
  cut.mkdir()
  Image.fromarray(clip_frames[0]).save(cut / '0001.png')
  Image.fromarray(clip_frames[1]).save(cut / '0002.jpg')
  data = (cut / '0002.jpg').read_bytes()
  (cut / '0002.jpg').write_bytes(data[:len(data) // 2])
  assert 'frame 0002.jpg' in _fails(tmp_path, cut, errors.TRUNCATED, Gray()).sentence


def test_reader_reports_the_header(clip_frames, tmp_path):
  opened = reader.open_video(_write(tmp_path, clip_frames))
  try:
    assert (opened.info.width, opened.info.height, opened.info.rate, opened.info.audio) == (96, 64, 24, ('opus',))
  finally:
    opened.close()
