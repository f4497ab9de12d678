"""The colorize web page in a real headless Chromium (Playwright): a sample, an upload, the download, and the
upload limits."""

import os
import shutil
import urllib.error
import urllib.request

from PIL import Image
import portpicker
import pytest
from playwright.sync_api import sync_playwright

from serving import web
from tests.conftest import SAMPLE_PHOTOS
from tests.conftest import sample_photo_paths

CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync']


@pytest.fixture(scope='module')
def server(pushed_models):
  port = portpicker.pick_unused_port()
  server = web.serve(str(pushed_models), port=port, samples_dir=SAMPLE_PHOTOS, max_upload_mb=0.5)
  yield f'http://127.0.0.1:{port}'
  server.shutdown()


@pytest.fixture(scope='module')
def page(server):
  with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(accept_downloads=True)
    page.goto(server + '/')
    yield page
    browser.close()


def _wait_for_result(page):
  page.wait_for_function("document.getElementById('output').complete && "
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
  page.wait_for_function("document.getElementById('status').textContent.startsWith('Done: grandparents.png')",
                         timeout=120_000)
  assert tuple(_wait_for_result(page)) == Image.open(photo).size
  assert page.text_content('#error') == ''


def test_limits_give_clear_messages(page, server, tmp_path):
  not_an_image = tmp_path / 'holiday.png'
  not_an_image.write_text('this is not a picture')
  page.set_input_files('#file', str(not_an_image))
  page.click('button[type=submit]')
  page.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=60_000)
  assert 'holiday.png: not a readable image' in page.text_content('#error')
  assert 'Upload a JPEG, PNG' in page.text_content('#error')
  big = tmp_path / 'huge.bmp'
  Image.new('RGB', (600, 600), (10, 20, 30)).save(big)  # ~1 MB, above the 0.5 MB limit of this server
  page.set_input_files('#file', str(big))
  page.click('button[type=submit]')
  page.wait_for_function("document.getElementById('error').textContent.includes('limit')", timeout=60_000)
  assert 'the limit is 0.5 MB' in page.text_content('#error')
  # The server enforces the same limit itself (not only the page's script).
  request = urllib.request.Request(server + '/api/colorize', data=big.read_bytes(), method='POST')
  with pytest.raises(urllib.error.HTTPError) as error:
    urllib.request.urlopen(request, timeout=60)
  assert error.value.code == 413 and b'the limit is 0.5 MB' in error.value.read()


def test_server_is_bound_to_loopback_by_default():
  import inspect
  assert inspect.signature(web.serve).parameters['host'].default == '127.0.0.1'
  web.define_flags()
  assert web.FLAGS['host'].default == '127.0.0.1'
