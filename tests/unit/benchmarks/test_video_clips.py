"""benchmarks/video_clips.py: the photo clips' shots and cuts, and the committed real clip, read by
`colorize-video`'s reader and refused when its bytes are not the recorded ones."""

import fractions
import os
import shutil

import numpy as np
from PIL import Image
import pytest

from benchmarks import video_clips
from tests.conftest import REPO
from tests.conftest import sample_photo_paths


def test_shots_follow_the_moves_and_cuts_start_each_shot():
  photos = [np.asarray(Image.open(p).convert('RGB')) for p in sample_photo_paths(3)]
  frames, cuts = video_clips.shots(photos, 64, 48, 5, video_clips.ZOOMS)
  assert len(frames) == 15 and cuts == [5, 10]
  assert all(f.shape == (48, 64, 3) for f in frames)
  np.testing.assert_array_equal(frames[5], video_clips.ZOOMS[1].make(photos[1], 64, 48, 5)[0])


def test_the_real_clip_is_the_recorded_colour_film():
  frames, rate = video_clips.real_clip()
  assert rate == fractions.Fraction(25) and len(frames) == 132
  assert frames[0].shape == (720, 1280, 3) and frames[0].dtype == np.uint8
  assert np.abs(frames[60].astype(int) - frames[60][..., ::-1]).mean() > 5  # in colour, not gray
  readme = open(os.path.join(REPO, 'benchmarks', 'clips', 'README.md')).read()
  clip = video_clips.REAL_CLIP
  assert clip.sha256 in readme and os.path.basename(clip.path) in readme and 'Attribution 3.0' in readme
  assert 'Blender Foundation' in clip.attribution and 'Blender Foundation' in readme
  assert os.path.getsize(os.path.join(REPO, clip.path)) < 2_000_000  # kept small: it is committed


def test_a_changed_real_clip_is_refused_naming_the_file(tmp_path):
  clip = video_clips.REAL_CLIP
  copy = tmp_path / clip.path
  copy.parent.mkdir(parents=True)
  shutil.copyfile(os.path.join(REPO, clip.path), copy)
  data = bytearray(copy.read_bytes())
  data[-10] ^= 0xFF
  copy.write_bytes(bytes(data))
  with pytest.raises(ValueError, match=f'{copy}: sha256 [0-9a-f]{{64}}, not the recorded'):
    video_clips.real_clip(clip, root=str(tmp_path))
