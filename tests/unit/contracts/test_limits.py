"""One pixel limit and one "is this a colour photo" rule for every stage (contracts/limits.py)."""

import numpy as np

import configs
from configs import definitions
from contracts import limits
from serving import colorizer
from trainer import export


def test_every_stage_uses_the_one_pixel_limit():
  assert definitions.DataConfig().max_pixels == limits.MAX_PIXELS
  for path in ('configs/local.yaml', 'configs/gcp.yaml'):
    assert configs.load_config(path).data.max_pixels == limits.MAX_PIXELS, path
  assert colorizer.MAX_PIXELS == export.MAX_PIXELS == limits.MAX_PIXELS


def test_one_colour_rule():
  assert definitions.DataConfig().grayscale_chroma_threshold == limits.GRAYSCALE_CHROMA_THRESHOLD
  gray = np.full((4, 4, 3), 128, np.uint8)
  assert not limits.is_colour_rgb8(gray)
  assert limits.is_colour_lab(np.array([[[50.0, 5.01, 0.0]]])) and not limits.is_colour_lab(np.array([[[50.0, 5.0, -5.0]]]))
  red = gray.copy()
  red[0, 0] = (200, 60, 60)
  assert limits.is_colour_rgb8(red)
