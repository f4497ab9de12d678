"""The batch job: a real Beam pipeline with RunInference over a folder, colorized PNGs plus dead letters."""

import json
import os
import shutil

from PIL import Image

import configs
from serving import batch_pipeline
from tests.conftest import sample_photo_paths


def test_batch_job_colorizes_and_dead_letters(pushed_models, tmp_path):
  inputs = tmp_path / 'in'
  (inputs / 'sub').mkdir(parents=True)
  photos = sample_photo_paths(12)[:10]
  for i, path in enumerate(photos):
    shutil.copy(path, inputs / ('sub' if i % 2 else '') / f'p{i}.jpg')
  data = open(photos[0], 'rb').read()
  (inputs / 'truncated.jpg').write_bytes(data[: len(data) // 2])
  (inputs / 'text.png').write_text('not an image')
  out = tmp_path / 'out'
  counters = batch_pipeline.run(str(inputs), str(out), str(pushed_models), configs.load_config().runner)
  assert counters['colorized'] == 10 and counters['dead_letters'] == 2
  for i, path in enumerate(photos):
    result = out / ('sub' if i % 2 else '') / f'p{i}.png'
    assert Image.open(result).size == Image.open(path).size
  letters = [json.loads(line) for line in open(out / 'dead_letters.jsonl')]
  assert sorted(os.path.basename(l['uri']) for l in letters) == ['text.png', 'truncated.jpg']
  assert all(l['reason'] for l in letters)
