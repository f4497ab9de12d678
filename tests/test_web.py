"""The colorize web page in a real headless Chromium (Playwright): a sample, an upload, the download, and the
upload limits; then the server itself under malformed requests, stalled clients and load (raw sockets)."""

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


def test_stalled_requests_time_out(colorizer):
  server = web.serve(port=0, samples_dir=SAMPLE_PHOTOS, colorizer=colorizer, request_timeout_s=2)
  try:
    stalled_body, = _stall(server.url, 1, declared=1000)
    stalled_headers = _connect(server.url)
    stalled_headers.sendall(b'POST /api/colorize HTTP/1.1\r\nHost: t\r\nContent-Le')
    start = time.monotonic()
    for sock in (stalled_body, stalled_headers):
      sock.settimeout(10)
      answer = sock.recv(1000)  # b'': closed by the server (or a 408)
      assert answer == b'' or answer.startswith(b'HTTP/1.1 408'), answer
      sock.close()
    assert time.monotonic() - start < 6
  finally:
    server.shutdown()


class _SlowColorizer:
  """Counts concurrent calls and holds each until released."""

  model_dir = 'fake'

  def __init__(self):
    self.running = self.peak = 0
    self.lock = threading.Lock()
    self.release = threading.Event()
    self.started = threading.Semaphore(0)

  def colorize(self, data):
    with self.lock:
      self.running += 1
      self.peak = max(self.peak, self.running)
    self.started.release()
    self.release.wait(60)
    with self.lock:
      self.running -= 1
    return data


def test_inference_is_bounded_and_the_rest_get_503_with_retry_after():
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
        assert status == 503 and headers['Retry-After'] == str(web_uploads.RETRY_AFTER_S)
        assert json.loads(body)['reason'] == 'busy'
        _check_answer(headers, body)
      with urllib.request.urlopen(server.url + '/', timeout=5) as response:  # the page is not queued either
        assert response.status == 200
      slow.release.set()
      assert [f.result()[0] for f in admitted + [queued]] == [200, 200, 200]
    assert slow.peak == 2
  finally:
    slow.release.set()
    server.shutdown()


def test_page_and_uploads_are_answered_while_64_uploads_stall(colorizer):
  server = web.serve(port=0, samples_dir=SAMPLE_PHOTOS, colorizer=colorizer, request_timeout_s=60)
  photos = [open(p, 'rb').read() for p in sample_photo_paths(24)]
  try:
    stalled = _stall(server.url, 64)
    start = time.monotonic()
    with urllib.request.urlopen(server.url + '/', timeout=10) as response:
      assert response.status == 200 and b'Colorize a black-and-white photo' in response.read()
    assert time.monotonic() - start < 5
    with concurrent.futures.ThreadPoolExecutor(24) as pool:
      answers = list(pool.map(lambda photo: _post(server.url, photo, timeout=120), photos))  # no reset: no raise
    statuses = [status for status, _, _ in answers]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= web.DEFAULTS['max_concurrent_inference'] + web.DEFAULTS['max_queued_uploads']
    for status, headers, body in answers:
      _check_answer(headers, body)
      if status == 200:
        assert Image.open(io.BytesIO(body)).format == 'PNG'
      else:
        assert headers['Retry-After']
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

