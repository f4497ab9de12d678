"""The SavedModel: encoded photo in, colorized PNG out at the photo's own resolution; plus a tensor signature.

Signatures:
- `serving_default`: `images` (string [N], JPEG/PNG/GIF/BMP bytes of any size, colour or gray) -> `png`
  (string [N]). ab is predicted at the model's resolution from the photo's L, upsampled bilinearly to the original
  size and recombined with the original full-resolution L (what Zhang et al., DeOldify and DDColor do: memory
  stays flat and detail is kept). Undecodable or oversized inputs fail with an InvalidArgument error naming the
  reason, not a crash of the server.
- `predict_ab`: `l` (float [N, H, W, 1], L in [0, 100]) -> `ab` (float [N, H, W, 2]): batch jobs, the evaluator.

The colour conversion is `pipeline.colorspace` on its TensorFlow backend: the same formulas as the dataset build.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from pipeline import colorspace
from trainer import model as model_lib

MAX_PIXELS = 64_000_000


class _Colorizer:
  """The prediction path shared by both signatures."""

  def __init__(self, colorizer: keras.Model, embedder, image_size: int, output_to_ab):
    self._colorizer = colorizer
    self._embedder = embedder
    self._size = image_size
    self._output_to_ab = output_to_ab

  def ab_at_model_size(self, l):
    """L [N, h, w, 1] in [0, 100] (any h, w) -> ab [N, S, S, 2] predicted at the model's resolution S."""
    l_small = tf.image.resize(l, (self._size, self._size), method='area')
    l_scaled = model_lib.scale_l(l_small)
    features = {'l': l_scaled}
    if self._embedder is not None:
      rgb = model_lib.gray_to_rgb_0_255(l_scaled, self._embedder.input_size)
      features['embedding'] = self._embedder(rgb)
    return self._output_to_ab(tf.cast(self._colorizer(features, training=False), tf.float32))

  def predict_ab(self, l):
    size = tf.shape(l)[1:3]
    return {'ab': tf.image.resize(self.ab_at_model_size(l), size, method='bilinear')}

  def colorize_one(self, data):
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    tf.debugging.assert_less_equal(
        tf.cast(height, tf.int64) * tf.cast(width, tf.int64), tf.constant(MAX_PIXELS, tf.int64),
        message=f'image too large: more than {MAX_PIXELS} pixels')
    backend = colorspace.tensorflow_backend()
    lab = colorspace.rgb_to_lab(tf.cast(image, tf.float32) / 255.0, backend)
    l = lab[..., :1]
    ab = tf.image.resize(self.ab_at_model_size(l[None]), (height, width), method='bilinear')[0]
    rgb = colorspace.lab_to_rgb(tf.concat([l, ab], axis=-1), backend)
    return tf.io.encode_png(tf.cast(tf.round(rgb * 255.0), tf.uint8))

  def colorize(self, images):
    return {'png': tf.map_fn(self.colorize_one, images, fn_output_signature=tf.string)}


def export_saved_model(colorizer: keras.Model, embedder, image_size: int, export_dir: str,
                       output_to_ab=model_lib.unscale_ab) -> str:
  """Writes the SavedModel (with both signatures) to `export_dir`.

  `output_to_ab` maps the network's output to ab units: `unscale_ab` for regression, the annealed mean over the
  bins for the classification loss (its centres become constants of the graph).
  """
  core = _Colorizer(colorizer, embedder, image_size, output_to_ab)
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
