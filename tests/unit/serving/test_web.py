"""The colorize web page in a real headless Chromium (Playwright): a sample, an upload, the download, and the
upload limits; then the server itself under malformed requests, stalled and short requests (408), and load: the
wait queue, its limits (503 with Retry-After) (raw sockets, 127.0.0.1 only)."""

import concurrent.futures
import contextlib
import http.client
import io
import json
import os
import shutil
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
import zlib

from PIL import Image
import pytest
from playwright.sync_api import sync_playwright

from serving import colorizer as colorizer_lib
from serving import web
from serving import web_uploads
from tests.conftest import SAMPLE_PHOTOS
from tests.conftest import sample_photo_paths

CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync']
SECURITY_HEADERS = {'X-Content-Type-Options': 'nosniff', 'X-Frame-Options': 'DENY', 'Referrer-Policy': 'no-referrer'}
# What an answer must never show: exception class names, tracebacks, the server's identity.
INTERNAL_TEXT = ('Error', 'Exception', 'Traceback', 'waitress', 'OSError', 'Image.open', 'File "')


@pytest.fixture(scope='module')
def colorizer(pushed_models):
  return colorizer_lib.Colorizer(str(pushed_models))


@pytest.fixture(scope='module')
def server(colorizer):
  server = web.serve(port=0, samples_dir=SAMPLE_PHOTOS, max_upload_mb=0.5, colorizer=colorizer)
  yield server.url
  server.shutdown()


@pytest.fixture(scope='module')
def page(server):
  with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(accept_downloads=True)
    page.csp_messages = []
    page.on('console', lambda m: page.csp_messages.append(m.text) if 'Content Security Policy' in m.text else None)
    page.goto(server + '/')
    yield page
    browser.close()


def _wait_for_result(page):
  page.wait_for_function("() => document.getElementById('output').complete && "
                         "document.getElementById('output').naturalWidth > 0", timeout=120_000)
  return page.evaluate("[document.getElementById('output').naturalWidth, "
                       "document.getElementById('output').naturalHeight]")


def test_pick_a_sample_and_download_the_result(page, tmp_path):
  sample = os.path.relpath(sample_photo_paths()[7], SAMPLE_PHOTOS)
  page.select_option('#sample', sample)
  size = _wait_for_result(page)
  assert tuple(size) == Image.open(os.path.join(SAMPLE_PHOTOS, sample)).size  # original resolution
  assert page.is_visible('#download')
  with page.expect_download() as download_info:
    page.click('#download')
  path = tmp_path / 'downloaded.png'
  download_info.value.save_as(path)
  assert Image.open(path).size == tuple(size) and Image.open(path).format == 'PNG'


def test_upload_a_black_and_white_photo(page, tmp_path):
  photo = tmp_path / 'grandparents.png'
  Image.open(sample_photo_paths()[9]).convert('L').save(photo)
  page.set_input_files('#file', str(photo))
  page.click('button[type=submit]')
  page.wait_for_function("() => document.getElementById('status').textContent.startsWith('Done: grandparents.png')",
                         timeout=120_000)
  assert tuple(_wait_for_result(page)) == Image.open(photo).size
  assert page.text_content('#error') == ''


def test_limits_give_clear_messages(page, server, tmp_path):
  not_an_image = tmp_path / 'holiday.png'
  not_an_image.write_text('this is not a picture')
  page.set_input_files('#file', str(not_an_image))
  page.click('button[type=submit]')
  page.wait_for_function("() => document.getElementById('error').textContent.length > 0", timeout=60_000)
  assert 'holiday.png: not a readable image' in page.text_content('#error')
  assert 'Upload a JPEG, PNG' in page.text_content('#error')
  big = tmp_path / 'huge.bmp'
  Image.new('RGB', (600, 600), (10, 20, 30)).save(big)  # ~1 MB, above the 0.5 MB limit of this server
  page.set_input_files('#file', str(big))
  page.click('button[type=submit]')
  page.wait_for_function("() => document.getElementById('error').textContent.includes('limit')", timeout=60_000)
  assert 'the limit is 0.5 MB' in page.text_content('#error')
  # The server enforces the same limit itself (not only the page's script), from the Content-Length alone: it
  # answers before the body is sent (a client still sending would see its pipe closed, so none is sent here).
  status, _, body = _raw(server, (f'POST /api/colorize HTTP/1.1\r\nHost: t\r\nContent-Length: '
                                  f'{big.stat().st_size}\r\nConnection: close\r\n\r\n').encode())
  assert status == 413 and b'the limit is 0.5 MB' in body


def test_page_satisfies_its_content_security_policy(page, server):
  """The inline style and script are allowed by hash (the flows above ran them); nothing was refused."""
  assert page.csp_messages == []
  with urllib.request.urlopen(server + '/', timeout=30) as response:
    csp = response.headers['Content-Security-Policy']
  assert "default-src 'none'" in csp and "script-src 'sha256-" in csp and 'unsafe-inline' not in csp
  assert page.evaluate("typeof colorize") == 'function'


def test_server_is_bound_to_loopback_by_default():
  import inspect
  assert inspect.signature(web.serve).parameters['host'].default == '127.0.0.1'
  web.define_flags()
  assert web.FLAGS['host'].default == '127.0.0.1'


# ---- The server under bad requests and load (raw sockets: no client library tidies the requests up). ----


def _address(url):
  host, port = url.rsplit('/', 1)[-1].rsplit(':', 1)
  return host, int(port)


def _connect(url, timeout=30):
  return socket.create_connection(_address(url), timeout=timeout)


def _raw(url, payload: bytes, timeout=30):
  """Sends `payload` as is; returns (status, headers, body) of the answer."""
  with _connect(url, timeout) as sock:
    sock.sendall(payload)
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, response.headers, response.read()


def _post(url, data: bytes, name='photo.jpg', timeout=60):
  return _raw(url, (f'POST /api/colorize HTTP/1.1\r\nHost: t\r\nContent-Length: {len(data)}\r\n'
                    f'X-Filename: {name}\r\nConnection: close\r\n\r\n').encode() + data, timeout)


def _check_answer(headers, body):
  for header, value in SECURITY_HEADERS.items():
    assert headers[header] == value, header
  assert "default-src 'none'" in headers['Content-Security-Policy']
  assert not any(text.encode() in body for text in INTERNAL_TEXT), body


def _stall(url, count, declared=100_000):
  """`count` uploads that announce a body, send 10 bytes of it and stall."""
  sockets = []
  for _ in range(count):
    sock = _connect(url)
    sock.sendall(f'POST /api/colorize HTTP/1.1\r\nHost: t\r\nContent-Length: {declared}\r\n\r\n'.encode()
                 + b'0123456789')
    sockets.append(sock)
  return sockets


def _png_bomb(width=20000, height=20000) -> bytes:
  """A 1-bit all-black PNG of width x height: ~50 KB on disk, `width * height` pixels once decoded."""
  def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
  compressor = zlib.compressobj(9)
  row = b'\0' * (1 + (width + 7) // 8)
  idat = b''.join(compressor.compress(row) for _ in range(height)) + compressor.flush()
  return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 1, 0, 0, 0, 0))
          + chunk(b'IDAT', idat) + chunk(b'IEND', b''))


@pytest.mark.parametrize('length', ['abc', '-5', '+5', '5 5', '0x10', '1e3'])
def test_malformed_content_length_is_400(server, length):
  status, headers, body = _raw(server, f'POST /api/colorize HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n'
                                       f'\r\n12345'.encode())
  assert status == 400
  assert json.loads(body)['reason'] == 'bad_request'
  _check_answer(headers, body)


@pytest.mark.parametrize('length', [500_001, 10**9, 99999999999999999999])
def test_upload_over_the_limit_is_413_at_once_without_its_body(server, length):
  start = time.monotonic()
  status, headers, body = _raw(server, f'POST /api/colorize HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n'
                                       'X-Filename: scan.tif\r\n\r\n'.encode(), timeout=5)  # no body sent at all
  assert time.monotonic() - start < 3
  assert status == 413
  answer = json.loads(body)
  assert answer['reason'] == 'too_large' and answer['error'].startswith('scan.tif is ')
  assert 'the limit is 0.5 MB' in answer['error']
  _check_answer(headers, body)


def test_chunked_upload_over_the_limit_is_413(server):
  chunk = b'x' * 100_000
  payload = b''.join(b'%x\r\n%s\r\n' % (len(chunk), chunk) for _ in range(6)) + b'0\r\n\r\n'
  status, headers, body = _raw(server, b'POST /api/colorize HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n'
                                       b'\r\n' + payload)
  assert status == 413 and json.loads(body)['reason'] == 'too_large'
  _check_answer(headers, body)


def _answer(sock, timeout=10):
  """Reads an answer to the end (the server closes after it): (status, headers, body)."""
  sock.settimeout(timeout)
  response = http.client.HTTPResponse(sock)
  response.begin()
  return response.status, response.headers, response.read()


def _json_error(status, headers, body, status_wanted, reason):
  assert status == status_wanted, (status, body)
  assert headers['Content-Type'] == 'application/json'
  answer = json.loads(body)
  assert answer['reason'] == reason, answer
  _check_answer(headers, body)
  return answer['error']


def test_stalled_requests_get_408_with_a_reason(colorizer):
  server = web.serve(port=0, samples_dir=SAMPLE_PHOTOS, colorizer=colorizer, request_timeout_s=1)
  try:
    stalled_body, = _stall(server.url, 1, declared=1000)
    stalled_headers = _connect(server.url)
    stalled_headers.sendall(b'POST /api/colorize HTTP/1.1\r\nHost: t\r\nContent-Le')
    idle = _connect(server.url)  # no request at all: closed without an answer
    start = time.monotonic()
    message = _json_error(*_answer(stalled_body), 408, 'request_timeout')
    assert 'stopped after 10 of 1000 bytes' in message and '1 s (the request timeout)' in message
    message = _json_error(*_answer(stalled_headers), 408, 'request_timeout')
    assert 'before its headers were complete' in message and '1 s (the request timeout)' in message
    idle.settimeout(10)
    assert idle.recv(1000) == b''
    assert time.monotonic() - start < 5
    for sock in (stalled_body, stalled_headers, idle):
      sock.close()
  finally:
    server.shutdown()


def test_short_body_gets_408_at_once(server):
  """A client that closes its side before its Content-Length (or before the last chunk) is answered at once."""
  for head, body, sent in [(b'Content-Length: 5000\r\n', b'x' * 1234, '1234 of 5000 bytes'),
                           (b'Transfer-Encoding: chunked\r\n', b'5\r\nabcde\r\n', '5 bytes')]:
    with _connect(server) as sock:
      sock.sendall(b'POST /api/colorize HTTP/1.1\r\nHost: t\r\nX-Filename: scan.jpg\r\n' + head + b'\r\n' + body)
      sock.shutdown(socket.SHUT_WR)
      start = time.monotonic()
      message = _json_error(*_answer(sock), 408, 'incomplete_body')
      assert time.monotonic() - start < 3
      assert message.startswith(f'scan.jpg: the upload ended after {sent}'), message
  with _connect(server) as sock:  # closed in the middle of the headers: 400, also answered
    sock.sendall(b'POST /api/colorize HTTP/1.1\r\nHost: t\r\nContent-Le')
    sock.shutdown(socket.SHUT_WR)
    assert 'before its headers were complete' in _json_error(*_answer(sock), 400, 'bad_request')


class _SlowColorizer:
  """Counts concurrent calls and holds each until released (or for `seconds`, when given)."""

  model_dir = 'fake'

  def __init__(self, seconds=None):
    self.running = self.peak = self.calls = 0
    self.lock = threading.Lock()
    self.release = threading.Event()
    self.started = threading.Semaphore(0)
    self.seconds = seconds

  def colorize(self, data):
    with self.lock:
      self.running += 1
      self.calls += 1
      self.peak = max(self.peak, self.running)
    self.started.release()
    if self.seconds is None:
      self.release.wait(60)
    else:
      time.sleep(self.seconds)
    with self.lock:
      self.running -= 1
    return data


def _small_png() -> bytes:
  buffer = io.BytesIO()
  Image.open(sample_photo_paths()[0]).convert('L').resize((32, 24)).save(buffer, format='PNG')
  return buffer.getvalue()


def _retry_after(headers) -> int:
  retry = int(headers['Retry-After'])
  assert web_uploads.MIN_RETRY_AFTER_S <= retry <= web_uploads.MAX_RETRY_AFTER_S
  return retry


def test_concurrent_uploads_beyond_the_workers_wait_in_the_queue():
  """100 simultaneous uploads on 2 inference slots, a queue of 100: every one is colorized (200), none refused,
  none dropped; 2 at a time, in the queue's order."""
  slow = _SlowColorizer(seconds=0.01)
  server = web.serve(port=0, samples_dir=SAMPLE_PHOTOS, colorizer=slow, max_concurrent_inference=2,
                     max_queued_uploads=100)
  photo = _small_png()
  count = 100
  barrier = threading.Barrier(count)

  def upload(_):
    barrier.wait(30)
    return _post(server.url, photo, timeout=60)

  try:
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
      answers = list(pool.map(upload, range(count)))
    assert [status for status, _, _ in answers] == [200] * count
    assert all(body == photo for _, _, body in answers)  # the fake model answers with its input
    assert slow.calls == count and slow.peak == 2
    slots = server.app.slots
    assert slots.peak_waiting > 2 and slots.refused == {'queue_full': 0, 'queue_timeout': 0}
    assert slots.running == 0 and slots.waiting == 0
  finally:
    server.shutdown()


def test_past_the_queue_limit_uploads_get_503_with_retry_after():
  slow = _SlowColorizer()
  server = web.serve(port=0, samples_dir=SAMPLE_PHOTOS, colorizer=slow, max_concurrent_inference=2,
                     max_queued_uploads=1)
  photo = open(sample_photo_paths()[0], 'rb').read()
  try:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
      admitted = [pool.submit(_post, server.url, photo) for _ in range(2)]
      assert slow.started.acquire(timeout=30) and slow.started.acquire(timeout=30)  # both slots taken
      queued = pool.submit(_post, server.url, photo)
      time.sleep(1)
      assert not queued.done() and slow.running == 2  # waits for a slot, not decoded yet
      start = time.monotonic()
      refused = [_post(server.url, photo) for _ in range(3)]
      assert time.monotonic() - start < 5  # answered at once, not queued behind the inference
      for status, headers, body in refused:
        message = _json_error(status, headers, body, 503, 'queue_full')
        assert 'its wait queue is full (1 waiting, the queue limit)' in message
        assert f'Try again in {_retry_after(headers)} s.' in message
      with urllib.request.urlopen(server.url + '/', timeout=5) as response:  # the page is not queued either
        assert response.status == 200
      slow.release.set()
      assert [f.result()[0] for f in admitted + [queued]] == [200, 200, 200]
    assert slow.peak == 2 and server.app.slots.refused['queue_full'] == 3
  finally:
    slow.release.set()
    server.shutdown()


def test_an_upload_that_waits_too_long_gets_503_with_retry_after():
  slow = _SlowColorizer()
  server = web.serve(port=0, samples_dir=SAMPLE_PHOTOS, colorizer=slow, max_concurrent_inference=1,
                     max_queued_uploads=4, max_queue_wait_s=1)
  photo = _small_png()
  try:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
      running = pool.submit(_post, server.url, photo)
      assert slow.started.acquire(timeout=30)
      start = time.monotonic()
      status, headers, body = _post(server.url, photo)  # queued behind the held one, for 1 s at most
      assert 0.9 < time.monotonic() - start < 5
      message = _json_error(status, headers, body, 503, 'queue_timeout')
      assert 'waited 1 s (the longest wait)' in message and f'Try again in {_retry_after(headers)} s.' in message
      slow.release.set()
      assert running.result()[0] == 200
    slots = server.app.slots
    assert slots.refused == {'queue_full': 0, 'queue_timeout': 1} and slots.waiting == 0 and slots.running == 0
    assert _post(server.url, photo)[0] == 200  # the slot is free again
  finally:
    slow.release.set()
    server.shutdown()


def test_page_and_24_concurrent_uploads_are_answered_while_64_uploads_stall(colorizer):
  """The real (tiny) model with the default limits: 24 simultaneous uploads are all colorized, none refused."""
  # The wait limit is raised so that a slow test machine cannot reach it (it has its own test); the count is the default.
  server = web.serve(port=0, samples_dir=SAMPLE_PHOTOS, colorizer=colorizer, request_timeout_s=60,
                     max_queue_wait_s=300)
  photos = [open(p, 'rb').read() for p in sample_photo_paths(24)]
  try:
    stalled = _stall(server.url, 64)
    start = time.monotonic()
    with urllib.request.urlopen(server.url + '/', timeout=10) as response:
      assert response.status == 200 and b'Colorize a black-and-white photo' in response.read()
    assert time.monotonic() - start < 5
    with concurrent.futures.ThreadPoolExecutor(24) as pool:
      answers = list(pool.map(lambda photo: _post(server.url, photo, timeout=120), photos))  # no reset: no raise
    assert [status for status, _, _ in answers] == [200] * 24
    for status, headers, body in answers:
      _check_answer(headers, body)
      assert Image.open(io.BytesIO(body)).format == 'PNG'
    for sock in stalled:
      sock.close()
  finally:
    server.shutdown()


def test_decompression_bomb_is_413_naming_the_pixel_limit(server):
  bomb = _png_bomb()
  assert len(bomb) < 100_000
  status, headers, body = _post(server, bomb, name='bomb.png')
  assert status == 413
  answer = json.loads(body)
  assert answer['reason'] == 'too_large'
  assert f'the limit is {colorizer_lib.MAX_PIXELS} pixels' in answer['error'] and '20000x20000' in answer['error']
  _check_answer(headers, body)


def _encoded(format_, **kwargs):
  buffer = io.BytesIO()
  Image.open(sample_photo_paths()[3]).convert('RGB').save(buffer, format=format_, **kwargs)
  return buffer.getvalue()


def test_bad_uploads_get_a_reason_and_a_sentence_without_internals(server):
  png = _encoded('PNG')
  corrupt = bytearray(png)
  corrupt[len(png) // 2: len(png) // 2 + 64] = os.urandom(64)
  cases = {
      'empty': b'',
      'not_an_image': b'this is not a picture',
      'unsupported_format': _encoded('TIFF'),
      'truncated': _encoded('JPEG')[:-2000],
      'corrupt': bytes(corrupt),
  }
  for reason, data in cases.items():
    status, headers, body = _post(server, data, name='holiday.png')
    answer = json.loads(body)
    assert status in (400, 415) and answer['reason'] == reason, (reason, status, answer)
    assert answer['error'].startswith('holiday.png') and answer['error'].endswith('.')
    _check_answer(headers, body)
  for path, status_wanted in [('/', 200), ('/samples/nope.jpg', 404), ('/api/colorize', 405)]:
    with pytest.raises(urllib.error.HTTPError) if status_wanted != 200 else contextlib.nullcontext():
      with urllib.request.urlopen(server + path, timeout=30) as response:
        _check_answer(response.headers, b'')
    if status_wanted != 200:
      status, headers, body = _raw(server, f'GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'.encode())
      assert status == status_wanted
      _check_answer(headers, body)
  status, headers, body = _raw(server, b'GET / HTTP/1.1\r\nHost: t\r\nX-Bad Header: 1\r\n\r\n')
  assert status == 400
  _check_answer(headers, body)

