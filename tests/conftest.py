"""Shared fixtures: the bundled sample photos (never ../shared: a user's clone has no such folder)."""

import glob
import os

import numpy as np
import pytest
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_PHOTOS = os.path.join(REPO, 'sample_photos')


def sample_photo_paths(n=None):
  paths = sorted(glob.glob(os.path.join(SAMPLE_PHOTOS, '*', '*.jpg')))
  return paths if n is None else paths[:: max(1, len(paths) // n)][:n]


@pytest.fixture(scope='session')
def sample_rgb():
  """A few real photos as uint8 RGB arrays."""
  return [np.asarray(Image.open(p).convert('RGB')) for p in sample_photo_paths(8)]
