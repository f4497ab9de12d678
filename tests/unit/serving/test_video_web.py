"""The web page's short clips over HTTP, with a real exported model: a clip comes back as an H.264 MP4; beyond the
limits of contracts/limits.py (bytes, seconds, frame size) the answer is 413 with the reason and the limit; a file
that is no video is 415; never framework text. The page offers the clip form under its CSP."""

import http.client
import json
import urllib.parse

import av
import numpy as np
from PIL import Image
import pytest

from benchmarks import video_clips
from contracts import limits
from serving import colorizer as colorizer_lib
from serving import web
from tests.conftest import SAMPLE_PHOTOS
from tests.conftest import sample_photo_paths

MAX_UPLOAD_MB = 2.0


@pytest.fixture(scope='module')
def server(pushed_models):
  server = web.serve(port=0, samples_dir=SAMPLE_PHOTOS, max_upload_mb=MAX_UPLOAD_MB,
                     colorizer=colorizer_lib.Colorizer(str(pushed_models)))
  yield server
  server.shutdown()


def _post(server, body: bytes, name: str, length: int | None = None):
  connection = http.client.HTTPConnection(server.host, server.port, timeout=120)
  connection.putrequest('POST', '/api/colorize_clip')
  connection.putheader('Content-Length', str(len(body) if length is None else length))
  connection.putheader('X-Filename', urllib.parse.quote(name))
  connection.endheaders()
  connection.send(body)
  response = connection.getresponse()
  answer = response.status, response.getheader('Content-Type'), response.read()
  connection.close()
  return answer


def _clip(tmp_path, width, height, frames, fps=24, name='clip.mp4'):
  photo = np.asarray(Image.open(sample_photo_paths(3)[0]).convert('RGB'))
  path = tmp_path / name
  video_clips.write_mp4(str(path), video_clips.pan(photo, width, height, frames, dx=1.0), fps)
  return path.read_bytes()


def test_a_clip_comes_back_colorized(server, tmp_path):
  status, content_type, body = _post(server, _clip(tmp_path, 96, 64, 12), 'family.mp4')
  assert (status, content_type) == (200, 'video/mp4')
  (tmp_path / 'answer.mp4').write_bytes(body)
  with av.open(str(tmp_path / 'answer.mp4')) as container:
    video = container.streams.video[0]
    assert (video.codec_context.name, video.width, video.height) == ('h264', 96, 64)
    assert sum(1 for _ in container.decode(video=0)) == 12 and container.streams.audio


def _refusal(answer):
  status, content_type, body = answer
  assert content_type == 'application/json'
  reply = json.loads(body)
  assert not any(word in reply['error'] for word in ('Traceback', 'Invalid data', 'FFmpeg', 'Errno'))
  return status, reply['reason'], reply['error']


def test_clips_beyond_the_limits_are_413(server, tmp_path):
  long_clip = _clip(tmp_path, 32, 32, int(24 * (limits.WEB_MAX_CLIP_SECONDS + 1)), name='long.mp4')
  status, reason, error = _refusal(_post(server, long_clip, 'long.mp4'))
  assert (status, reason) == (413, 'too_long') and f'the limit is {limits.WEB_MAX_CLIP_SECONDS:g} s' in error
  big_frames = _clip(tmp_path, 1600, 900, 2, name='big.mp4')
  status, reason, error = _refusal(_post(server, big_frames, 'big.mp4'))
  assert (status, reason) == (413, 'too_large') and f'the limit is {limits.WEB_MAX_CLIP_FRAME_PIXELS}' in error
  status, reason, error = _refusal(_post(server, b'', 'huge.mkv', length=int(MAX_UPLOAD_MB * 1e6) + 10))
  assert (status, reason) == (413, 'too_large') and 'huge.mkv is ' in error and 'the limit is 2 MB' in error


def test_not_a_clip_is_415(server):
  status, reason, error = _refusal(_post(server, b'just words', 'notes.mp4'))
  assert (status, reason) == (415, 'not_a_video') and error.startswith('notes.mp4: not_a_video:')
  status, reason, _ = _refusal(_post(server, b'', 'empty.mp4'))
  assert (status, reason) == (400, 'empty')


def test_the_page_offers_clips(server):
  connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
  connection.request('GET', '/')
  response = connection.getresponse()
  page = response.read().decode()
  assert 'id="clip-file"' in page and f'at most {limits.WEB_MAX_CLIP_SECONDS:g} s' in page
  assert 'media-src blob:' in response.getheader('Content-Security-Policy')
  connection.close()


def test_the_page_colorizes_a_clip_in_a_browser(server, tmp_path):
  """The clip form in headless Chromium: the colorized clip plays in the page's <video> (its CSP allows blob:
  media) and is offered for download."""
  from playwright.sync_api import sync_playwright  # pylint: disable=g-import-not-at-top
  from tests.unit.serving.test_web import CHROMIUM, CHROMIUM_ARGS  # pylint: disable=g-import-not-at-top
  (tmp_path / 'wedding.mp4').write_bytes(_clip(tmp_path, 96, 64, 12))
  with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page()
    refused = []
    page.on('console', lambda m: refused.append(m.text) if 'Content Security Policy' in m.text else None)
    page.goto(f'http://{server.host}:{server.port}/')
    page.set_input_files('#clip-file', str(tmp_path / 'wedding.mp4'))
    page.click('#clip-upload button[type=submit]')
    page.wait_for_function("() => document.getElementById('clip-status').textContent.startsWith('Done')",
                           timeout=120_000)
    assert page.is_visible('#clip-output') and page.is_visible('#clip-download')
    assert page.get_attribute('#clip-download', 'download') == 'wedding_colorized.mp4'
    assert page.evaluate("document.getElementById('clip-output').src").startswith('blob:')
    browser.close()
  assert refused == []
