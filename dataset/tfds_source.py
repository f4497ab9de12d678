"""A prepared TFDS dataset as a source of the dataset job (`data.input_uri=tfds:<name>[/<split>]`)."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import apache_beam as beam
import numpy as np
from PIL import Image

from contracts import sources
from dataset import records


def _tfds_example_to_file(example: dict[str, Any], name: str, split: str) -> records.SourceFile:
  image = np.asarray(example['image'])
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format='PNG', compress_level=1)
  data = buffer.getvalue()
  key = None
  for field in ('id', 'file_name', 'image/filename', 'filename'):
    if field in example:
      value = np.asarray(example[field]).item()
      key = value.decode('utf-8') if isinstance(value, bytes) else str(value)
      break
  key = key or hashlib.sha256(data).hexdigest()[:16]
  return records.SourceFile(f'tfds:{name}/{split}#{key}', data)


class ReadTfds(beam.PTransform):
  """A prepared TFDS dataset's images as lossless PNG SourceFiles (so they take the same path as files)."""

  def __init__(self, name: str, split: str, data_dir: str):
    super().__init__()
    # Lazy: tensorflow_datasets is slow to import, and only TFDS sources need it.
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    try:
      self._builder = tfds.builder(name, data_dir=data_dir or None)
    except Exception as e:  # pylint: disable=broad-except
      raise sources.SourceError(f'tfds:{name}: unknown TFDS dataset: {e}') from e
    if not self._builder.is_prepared():
      raise sources.SourceError(
          f'tfds:{name}: not downloaded/prepared in {self._builder.data_dir} and this job does not download '
          f'(offline machines, batch workers). Prepare it where there is internet (`tfds build {name} '
          f'--data_dir=DIR`), copy DIR here and set data.tfds_data_dir=DIR.')
    if 'image' not in self._builder.info.features:
      raise sources.SourceError(f'tfds:{name}: has no `image` feature')
    if split not in self._builder.info.splits:
      raise sources.SourceError(f'tfds:{name}: no split {split!r}; has {sorted(self._builder.info.splits)}')
    self._name, self._split = name, split

  def expand(self, pbegin):
    # Lazy: tensorflow_datasets is slow to import, and only TFDS sources need it.
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    name, split = self._name, self._split
    return (pbegin
            | 'ReadTFDS' >> tfds.beam.ReadFromTFDS(self._builder, split=split)
            | 'ToNumpy' >> beam.Map(tfds.as_numpy)
            | 'EncodePng' >> beam.Map(_tfds_example_to_file, name, split))
