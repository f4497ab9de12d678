"""The SavedModel: encoded photo in, colorized PNG out at the photo's own resolution; plus a tensor signature.

Signatures:
- `serving_default`: `images` (string [N], JPEG/PNG/GIF/BMP bytes of any size, colour or gray) -> `png`
  (string [N]). ab is predicted at the model's resolution from the photo's L, upsampled bilinearly to the original
  size and recombined with the original full-resolution L (what Zhang et al., DeOldify and DDColor do: detail is
  kept). The full-resolution colour conversion and upsampling run strip by strip (`STRIP_PIXELS`), so memory
  stays flat on large photos. Transparency (PNG RGBA/LA) is composited on white exactly as the dataset job does
  (`composite_on_white`), so training and serving see the same L. Empty, non-image and oversized inputs (the last
  from the header, before decoding) fail with an InvalidArgument assertion whose message starts with the reason
  word of `contracts.dead_letters` (`too_large: ...`), not a crash of the server.
- `predict_ab`: `l` (float [N, H, W, 1], L in [0, 100]) -> `ab` (float [N, H, W, 2]): batch jobs, the evaluator.

The colour conversion is `contracts.colorspace` on its TensorFlow backend: the same formulas as the dataset build.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from contracts import colorspace
from contracts import limits
from trainer.objective import flip_averaging
from trainer import scaling

MAX_PIXELS = limits.MAX_PIXELS
STRIP_PIXELS = limits.SERVING_STRIP_PIXELS  # the full-resolution steps, strip by strip (contracts/limits.py)
PNG_COMPRESSION = limits.SERVING_PNG_COMPRESSION


def _map_strips(fn, height, rows, dtype, channels):
  """Concatenation of fn(start) ([rows, W, channels]) for start = 0, rows, 2 rows, ... < height, computed one strip
  at a time."""
  count = (height + rows - 1) // rows
  strips = tf.TensorArray(dtype, size=count, infer_shape=False)
  _, strips = tf.while_loop(lambda i, _: i < count, lambda i, ta: (i + 1, ta.write(i, fn(i * rows))),
                            (tf.constant(0), strips), parallel_iterations=1)
  return tf.ensure_shape(strips.concat(), [None, None, channels])


def _bilinear_rows(padded, start, count, height, width):
  """Rows [start, start + count) of tf.image.resize(small, (height, width), 'bilinear'), from `small` padded by its
  edge (`padded`, [h + 2, w + 2, C]), without materializing the full-size result.

  tf.image.resize samples output pixel i at source coordinate (i + 0.5) * h / height - 0.5, clamped to the edge;
  crop_and_resize samples at y1 * (h + 1) + i * (y2 - y1) * (h + 1) / (count - 1) of the padded map, where the
  one-pixel edge padding plays the clamp.
  """
  h = tf.cast(tf.shape(padded)[0] - 2, tf.float64)
  w = tf.cast(tf.shape(padded)[1] - 2, tf.float64)
  height, width = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
  y1 = ((tf.cast(start, tf.float64) + 0.5) * h / height + 0.5) / (h + 1.0)
  y2 = y1 + (tf.cast(count, tf.float64) - 1.0) * h / height / (h + 1.0)
  x1 = (0.5 * w / width + 0.5) / (w + 1.0)
  x2 = x1 + (width - 1.0) * w / width / (w + 1.0)
  box = tf.cast(tf.stack([y1, x1, y2, x2])[None], tf.float32)
  return tf.image.crop_and_resize(padded[None], box, [0], tf.stack([count, tf.cast(width, tf.int32)]))[0]


# The signatures of the formats TensorFlow decodes: what `serving_default` accepts.
_SIGNATURES = (b'\xff\xd8\xff', b'\x89PNG\r\n\x1a\n', b'GIF87a', b'GIF89a', b'BM')


def _header_pixels(data):
  """width x height (int64) from the header of a JPEG, PNG, GIF or BMP, before any pixel is decoded."""
  padded = tf.strings.join([data, tf.constant(b'\0' * 32)])  # so the fixed offsets below are always in range

  def field(offset, size, dtype, little_endian):
    return tf.abs(tf.cast(tf.io.decode_raw(tf.strings.substr(padded, offset, size), dtype,
                                           little_endian=little_endian)[0], tf.int64))

  def jpeg():
    shape = tf.image.extract_jpeg_shape(data)
    return tf.cast(shape[0], tf.int64) * tf.cast(shape[1], tf.int64)

  png = lambda: field(16, 4, tf.int32, False) * field(20, 4, tf.int32, False)
  gif = lambda: field(6, 2, tf.uint16, True) * field(8, 2, tf.uint16, True)
  bmp = lambda: field(18, 4, tf.int32, True) * field(22, 4, tf.int32, True)
  prefix = tf.strings.substr(padded, 0, 2)
  return tf.case([(tf.equal(prefix, b'\xff\xd8'), jpeg), (tf.equal(prefix, b'\x89P'), png),
                  (tf.equal(prefix, b'GI'), gif)], default=bmp, exclusive=True)


def decode_checked(data):
  """Encoded bytes -> uint8 [H, W, C] with C its own channel count (alpha kept, see `composite_on_white`).

  Fails with InvalidArgument assertions whose message starts with the reason word of `contracts.dead_letters`
  (`empty: ...`, `not_an_image: ...`, `too_large: ...`, the last from the header, before decoding); bytes that
  TensorFlow's decoders then refuse (truncated, corrupt) fail with TensorFlow's own error, which the serving tools
  report as `corrupt` (they validate with `contracts.decode` first, so they see this rarely).
  """
  checks = [tf.debugging.assert_greater(tf.strings.length(data), 0, message='empty: the file is empty')]
  padded = tf.strings.join([data, tf.constant(b'\0' * 8)])
  is_image = tf.reduce_any([tf.equal(tf.strings.substr(padded, 0, len(s)), s) for s in _SIGNATURES])
  checks.append(tf.debugging.Assert(is_image, ['not_an_image: no JPEG, PNG, GIF or BMP header']))
  with tf.control_dependencies(checks):
    pixels = _header_pixels(data)
  checks.append(tf.debugging.Assert(
      pixels <= MAX_PIXELS,
      [f'too_large: more than the limit of {MAX_PIXELS} pixels (from the header)']))
  with tf.control_dependencies(checks):
    # JPEG with the accurate integer IDCT, as PIL (the dataset job's decoder) decodes it; decode_image's default,
    # the fast IDCT, is up to several levels off on edges.
    image = tf.cond(tf.equal(tf.strings.substr(padded, 0, 2), b'\xff\xd8'),
                    lambda: tf.io.decode_jpeg(data, channels=0, dct_method='INTEGER_ACCURATE'),
                    lambda: tf.io.decode_image(data, channels=0, expand_animations=False))
  height, width = tf.shape(image)[0], tf.shape(image)[1]
  decoded_check = tf.debugging.Assert(
      tf.cast(height, tf.int64) * tf.cast(width, tf.int64) <= MAX_PIXELS,
      [f'too_large: more than the limit of {MAX_PIXELS} pixels'])
  with tf.control_dependencies([decoded_check]):
    return tf.identity(image)


def composite_on_white(pixels):
  """uint8 [..., C] (C = 1, 2, 3 or 4) -> float32 RGB levels [..., 3] in [0, 255], integers: transparency composited
  on white, as the dataset job does (`contracts.decode`, PIL's alpha_composite over an opaque white background:
  c * a + 255 * (1 - a), rounded; within one level of PIL's fixed-point arithmetic)."""
  channels = tf.shape(pixels)[-1]
  values = tf.cast(pixels, tf.float32)
  colour = tf.cond(channels >= 3, lambda: values[..., :3],
                   lambda: tf.repeat(values[..., :1], 3, axis=-1))
  alpha = values[..., -1:] / 255.0
  colour = tf.cond(tf.equal(channels % 2, 0), lambda: tf.round(colour * alpha + 255.0 * (1.0 - alpha)),
                   lambda: colour)
  return tf.ensure_shape(colour, pixels.shape[:-1].concatenate([3]))


def _strip_rows(width):
  return tf.maximum(1, STRIP_PIXELS // width)


def luminance(image):
  """uint8 [H, W, C] (as `decode_checked` returns it) -> L [H, W, 1] float32, strip by strip: transparency on
  white, each 8-bit level linearized by lookup (`colorspace.SRGB8_TO_LINEAR`), L alone computed from them."""
  height, width = tf.shape(image)[0], tf.shape(image)[1]
  rows = _strip_rows(width)
  backend = colorspace.tensorflow_backend()
  to_linear = tf.constant(colorspace.SRGB8_TO_LINEAR)

  def l_strip(start):
    levels = tf.cast(composite_on_white(image[start:start + rows]), tf.int32)  # integer levels in [0, 255]
    return colorspace.linear_rgb_to_l(tf.gather(to_linear, levels), backend)

  return _map_strips(l_strip, height, rows, tf.float32, 1)


def recombine(l, ab_small):
  """Full-resolution L [H, W, 1] + ab at the model's resolution [S, S, 2] -> uint8 sRGB [H, W, 3], strip by strip:
  ab upsampled bilinearly (`_bilinear_rows`), Lab -> linear RGB, then 8-bit sRGB by lookup
  (`colorspace.linear_to_srgb8_tf`)."""
  height, width = tf.shape(l)[0], tf.shape(l)[1]
  rows = _strip_rows(width)
  backend = colorspace.tensorflow_backend()
  ab_padded = tf.pad(ab_small, [[1, 1], [1, 1], [0, 0]], mode='SYMMETRIC')  # edge rows/columns repeated

  def rgb_strip(start):
    l_rows = l[start:start + rows]
    ab_rows = _bilinear_rows(ab_padded, start, tf.shape(l_rows)[0], height, width)
    return colorspace.linear_to_srgb8_tf(colorspace.lab_to_linear_rgb(tf.concat([l_rows, ab_rows], -1), backend))

  return _map_strips(rgb_strip, height, rows, tf.uint8, 3)


def encode_png(rgb8):
  """uint8 [H, W, 3] -> PNG bytes at zlib level `PNG_COMPRESSION`."""
  return tf.io.encode_png(rgb8, compression=PNG_COMPRESSION)


class _Colorizer:
  """The prediction path shared by both signatures."""

  def __init__(self, colorizer: keras.Model, embedder, image_size: int, output_to_ab, flip_averaging: str):
    self._colorizer = colorizer
    self._embedder = embedder
    self._size = image_size
    self._output_to_ab = output_to_ab
    self._flip_averaging = flip_averaging

  def ab_at_model_size(self, l):
    """L [N, h, w, 1] in [0, 100] (any h, w) -> ab [N, S, S, 2] predicted at the model's resolution S."""
    l_small = tf.image.resize(l, (self._size, self._size), method='area')
    l_scaled = scaling.scale_l(l_small)
    features = {'l': l_scaled}
    if self._embedder is not None:
      rgb = scaling.gray_to_rgb_0_255(l_scaled, self._embedder.input_size)
      features['embedding'] = self._embedder(rgb)
    return self._output_to_ab(flip_averaging.predict_output(self._colorizer, features, self._flip_averaging))

  def predict_ab(self, l):
    size = tf.shape(l)[1:3]
    return {'ab': tf.image.resize(self.ab_at_model_size(l), size, method='bilinear')}

  def colorize_one(self, data):
    image = decode_checked(data)  # uint8 [H, W, C], C = 1 (L), 2 (LA), 3 (RGB) or 4 (RGBA)
    l = luminance(image)  # [H, W, 1]: the only full-size float plane
    return encode_png(recombine(l, self.ab_at_model_size(l[None])[0]))

  def colorize(self, images):
    return {'png': tf.map_fn(self.colorize_one, images, fn_output_signature=tf.string)}


def export_saved_model(colorizer: keras.Model, embedder, image_size: int, export_dir: str,
                       output_to_ab=scaling.unscale_ab, flip_averaging: str = '') -> str:
  """Writes the SavedModel (with both signatures) to `export_dir`.

  `output_to_ab` maps the network's output to ab units: `unscale_ab` for regression, the annealed mean over the
  bins for the classification loss (its centres become constants of the graph). `flip_averaging`: both
  signatures serve the photo's and its mirror image's predictions combined (`flip_averaging.flip_combination`).
  """
  core = _Colorizer(colorizer, embedder, image_size, output_to_ab, flip_averaging)
  archive = keras.export.ExportArchive()
  archive.track(colorizer)
  if embedder is not None:
    archive.track(embedder.model)
  archive.add_endpoint('serving_default', core.colorize,
                       input_signature=[tf.TensorSpec([None], tf.string, name='images')])
  archive.add_endpoint('predict_ab', core.predict_ab,
                       input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32, name='l')])
  archive.write_out(export_dir, verbose=False)
  return export_dir
