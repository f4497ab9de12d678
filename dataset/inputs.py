"""Fingerprint of the pipeline's input photos: changes when a photo is added, removed or rewritten.

It is an execution property of LabExampleGen, so TFX's cache serves an unchanged re-run and rebuilds the examples
(and everything downstream) when the photos change. Listing-based (paths, sizes, modification times): cheap on a
bucket of millions of objects, no file is read.
"""

from __future__ import annotations

import hashlib

from apache_beam.io.filesystems import FileSystems

from contracts import sources


def fingerprint(input_uri: str) -> str:
  source = sources.parse_input_uri(input_uri)
  if source.kind == 'tfds':
    return f'tfds:{source.tfds_name}/{source.tfds_split}'
  digest = hashlib.sha256()
  for result in FileSystems.match(list(source.patterns)):
    for metadata in sorted(result.metadata_list, key=lambda m: m.path):
      digest.update(f'{metadata.path}\0{metadata.size_in_bytes}\0{metadata.last_updated_in_seconds}\n'.encode())
  return digest.hexdigest()
