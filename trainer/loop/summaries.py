"""TensorBoard summaries (losses, learning rate, sample colorizations) and a PNG of the loss curves."""

from __future__ import annotations

import io
import math
import os

import numpy as np
from PIL import Image
from PIL import ImageDraw
import tensorflow as tf

from contracts import strips
from trainer import scaling


class Writer:
  """Writes only on the chief (enabled=False elsewhere), so workers never race on the same event files."""

  def __init__(self, log_dir: str, enabled: bool = True):
    self._enabled = enabled
    self._writer = tf.summary.create_file_writer(os.path.join(log_dir, 'train')) if enabled else None

  def scalars(self, step: int, **values) -> None:
    if not self._enabled:
      return
    with self._writer.as_default():
      for name, value in values.items():
        if value is not None:
          tf.summary.scalar(name, value, step=step)

  def colorizations(self, step: int, l_scaled, ab_pred, ab_true) -> None:
    """Rows of (gray input | prediction | original), drawn by `contracts.strips` from the scaled L and ab."""
    if not self._enabled:
      return
    grid = strips.gray_prediction_original(scaling.unscale_l(np.asarray(l_scaled, np.float32)),
                                           scaling.unscale_ab(np.asarray(ab_pred, np.float32)),
                                           scaling.unscale_ab(np.asarray(ab_true, np.float32)))
    with self._writer.as_default():
      tf.summary.image('gray_prediction_original', grid, step=step, max_outputs=4)

  def loss_curve_png(self, history: dict[str, list[float]], path: str, size=(640, 400)) -> None:
    """Train and validation loss against step, drawn with PIL (no plotting dependency)."""
    if not self._enabled or not history.get('step'):
      return
    image = Image.new('RGB', size, 'white')
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 60, 20, size[0] - 20, size[1] - 40
    values = [v for k in ('loss', 'val_loss') for v in history[k] if v is not None and math.isfinite(v)]
    steps = history['step']
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    high = high if high > low else low + 1.0
    x_of = lambda s: left + (right - left) * (s - steps[0]) / max(steps[-1] - steps[0], 1)
    y_of = lambda v: bottom - (bottom - top) * (v - low) / (high - low)
    draw.rectangle([left, top, right, bottom], outline='black')
    for name, colour in (('loss', (31, 119, 180)), ('val_loss', (255, 127, 14))):
      points = [(x_of(s), y_of(v)) for s, v in zip(steps, history[name]) if v is not None and math.isfinite(v)]
      if len(points) > 1:
        draw.line(points, fill=colour, width=2)
      for x, y in points:
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
    draw.text((left, bottom + 8), f'step {steps[0]} .. {steps[-1]}', fill='black')
    draw.text((4, top), f'{high:.4f}', fill='black')
    draw.text((4, bottom - 10), f'{low:.4f}', fill='black')
    draw.text((right - 160, top + 6), 'train loss', fill=(31, 119, 180))
    draw.text((right - 160, top + 20), 'validation loss', fill=(255, 127, 14))
    buffer = io.BytesIO()
    image.save(buffer, format='PNG')
    # Through TensorFlow's filesystem layer: `path` is usually under the Model artifact (gs:// on Vertex).
    folder = os.path.dirname(path)
    if folder:
      tf.io.gfile.makedirs(folder)
    with tf.io.gfile.GFile(path, 'wb') as f:
      f.write(buffer.getvalue())

  def close(self) -> None:
    if self._enabled:
      self._writer.close()
