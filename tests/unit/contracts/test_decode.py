"""Robust decoding: orientation, colour modes, formats, and the reason every unusable file gets."""

import io

import numpy as np
from PIL import Image
import pytest

from contracts import decode
from tests.conftest import sample_photo_paths

LIMITS = dict(min_side=16, max_pixels=10_000_000)


def encode(image, fmt, **kwargs):
  buffer = io.BytesIO()
  image.save(buffer, format=fmt, **kwargs)
  return buffer.getvalue()


@pytest.fixture(scope='module')
def photo():
  return Image.open(sample_photo_paths(1)[0]).convert('RGB').resize((96, 64))


def test_exif_orientation_is_applied():
  image = Image.new('RGB', (60, 40), (255, 0, 0))
  image.paste((0, 0, 255), (30, 0, 60, 40))  # left red, right blue
  exif = Image.Exif()
  exif[0x0112] = 6  # "rotate 90 CW to display"
  decoded = decode.decode_image(encode(image, 'JPEG', exif=exif.tobytes(), quality=95), **LIMITS)
  assert decoded.shape == (60, 40, 3)
  top, bottom = decoded[5, 20], decoded[-5, 20]
  assert top[0] > 200 and top[2] < 60      # the red half is now on top
  assert bottom[2] > 200 and bottom[0] < 60


@pytest.mark.parametrize('fmt', ['JPEG', 'PNG', 'WEBP', 'BMP'])
def test_formats_decode_to_rgb(photo, fmt):
  options = {'quality': 95} if fmt in ('JPEG', 'WEBP') else {}
  decoded = decode.decode_image(encode(photo, fmt, **options), **LIMITS)
  assert decoded.shape == (64, 96, 3) and decoded.dtype == np.uint8
  tolerance = 10 if fmt in ('JPEG', 'WEBP') else 0  # lossy codecs at quality 95 on a small, detailed photo
  assert np.abs(decoded.astype(int) - np.asarray(photo)).mean() <= tolerance


def test_cmyk_jpeg_is_converted(photo):
  decoded = decode.decode_image(encode(photo.convert('CMYK'), 'JPEG', quality=95), **LIMITS)
  assert decoded.shape == (64, 96, 3)
  assert np.abs(decoded.astype(int) - np.asarray(photo)).mean() < 12


def test_palette_png_is_converted(photo):
  palette = photo.quantize(64)
  decoded = decode.decode_image(encode(palette, 'PNG'), **LIMITS)
  np.testing.assert_array_equal(decoded, np.asarray(palette.convert('RGB')))


def test_sixteen_bit_png_is_scaled_not_clipped():
  ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
  decoded = decode.decode_image(encode(Image.fromarray(ramp, 'I;16'), 'PNG'), **LIMITS)
  assert decoded[0, 0, 0] == 0 and decoded[-1, -1, 0] == 255
  assert 120 <= decoded[32, 0, 0] <= 135  # mid-grey, not clipped to white


def test_alpha_is_composited_on_white():
  rgba = np.zeros((32, 32, 4), np.uint8)
  rgba[..., 0] = 255            # red everywhere ...
  rgba[:, 16:, 3] = 255         # ... opaque on the right half only
  decoded = decode.decode_image(encode(Image.fromarray(rgba, 'RGBA'), 'PNG'), **LIMITS)
  np.testing.assert_array_equal(decoded[0, 0], [255, 255, 255])
  np.testing.assert_array_equal(decoded[0, 31], [255, 0, 0])


def test_gif_first_frame():
  frames = [Image.new('RGB', (32, 32), (255, 0, 0)), Image.new('RGB', (32, 32), (0, 0, 255))]
  data = encode(frames[0], 'GIF', save_all=True, append_images=frames[1:])
  decoded = decode.decode_image(data, **LIMITS)
  assert decoded[16, 16, 0] > 200 and decoded[16, 16, 2] < 50


def bad_files(photo):
  jpeg = encode(photo, 'JPEG', quality=90)
  png = bytearray(encode(photo, 'PNG'))
  start = png.find(b'IDAT') + 20
  png[start:start + 40] = bytes(40)  # zeroed compressed pixel data: the header is fine, the stream is not
  return {
      decode.EMPTY: b'',
      decode.NOT_AN_IMAGE: b'just some text, not a picture\n' * 10,
      decode.TRUNCATED: jpeg[: len(jpeg) // 2],
      decode.CORRUPT: bytes(png),
      decode.TOO_SMALL: encode(photo.resize((12, 40)), 'PNG'),
      decode.UNSUPPORTED_FORMAT: encode(photo, 'TIFF'),
  }


def test_every_bad_file_gets_its_reason(photo):
  for reason, data in bad_files(photo).items():
    with pytest.raises(decode.UnusableImage) as info:
      decode.decode_image(data, **LIMITS)
    assert info.value.reason == reason, (reason, str(info.value))


def test_pixel_limit_is_checked_before_decoding():
  # A 20000 x 20000 PNG header with almost no data: a decompression bomb must be refused from the header alone.
  bomb = encode(Image.new('L', (20000, 20000)), 'PNG')
  assert len(bomb) < 1_000_000
  with pytest.raises(decode.UnusableImage) as info:
    decode.decode_image(bomb, min_side=16, max_pixels=50_000_000)
  assert info.value.reason == decode.TOO_LARGE and '400000000 pixels' in str(info.value)
