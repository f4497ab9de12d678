"""The model's colour for batches of frames: the exported SavedModel's `predict_ab` signature (L [N, H, W, 1] in
0-100 -> ab [N, H, W, 2] at the frames' own size), the tensor twin of the `serving_default` the photo tools call."""

from __future__ import annotations

import numpy as np

from serving import model_store
from serving.video import errors
from serving.video.errors import VideoError


class Predictor:
  """A loaded colorizer (`model_store.load`: a SavedModel, or the newest version of a pushed-model folder)."""

  def __init__(self, model_path: str | None = None, model=None):
    if model is None:
      model, model_path = model_store.load(model_path)
    self.model_dir = model_path
    self._predict = model.signatures['predict_ab']

  def predict(self, l_batch: np.ndarray, source: str = '') -> np.ndarray:
    """L [N, H, W] -> float32 ab [N, H, W, 2].

    Raises:
      VideoError: inference_failed, when the model refuses or fails (never TensorFlow's text).
    """
    # Lazy: TensorFlow only for the SavedModel path; the consistency step is NumPy/OpenCV.
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    try:
      l = tf.convert_to_tensor(np.asarray(l_batch, np.float32)[..., None])
      return self._predict(l=l)['ab'].numpy()
    except (tf.errors.OpError, ValueError):
      raise VideoError(source, errors.INFERENCE_FAILED) from None
