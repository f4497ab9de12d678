"""Benchmarks of the dataset build, training, quality, colorize and the web server; results in benchmarks/results/."""

import io
import json
import os

from PIL import Image


def write_results(path: str, results: dict) -> None:
  """Writes a benchmark's results as indented JSON (benchmarks/results/*.json), creating the folder."""
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(results, f, indent=2)


def one_megapixel_gray_jpeg(path: str) -> bytes:
  """The photo resized to about 1,000,000 pixels and saved as a gray JPEG: the latency benchmarks' timed input."""
  image = Image.open(path).convert('RGB')
  scale = (1_000_000 / (image.width * image.height)) ** 0.5
  image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
  buffer = io.BytesIO()
  image.convert('L').save(buffer, format='JPEG', quality=92)
  return buffer.getvalue()


def shown_path(path: str) -> str:
  """A model's folder as results files show it: relative to the repository when inside it, else its last two
  parts (no machine path in a tracked file)."""
  absolute = os.path.abspath(path)
  if absolute.startswith(os.getcwd() + os.sep):
    return os.path.relpath(absolute)
  return '/'.join(absolute.rstrip('/').split('/')[-2:])


def from_imagenet_overrides() -> list[str]:
  """Config overrides that train from ImageNet's encoder at the trainer's default learning rate.

  `configs/local.yaml` fine-tunes the shipped colorizer (a warm start at a fine-tuning rate); benchmark rows compare
  designs trained from the same starting point, and a warm start from a file of another shape would be refused.
  A variant's own overrides (a spec's `:key=value`) come after these and may warm-start it again.
  """
  import configs  # pylint: disable=g-import-not-at-top
  return ['training.warm_start_from=', f'training.optimizer.learning_rate={configs.OptimizerConfig().learning_rate}']


def interval_text(row: dict) -> str:
  """A scored row's hue-recall bootstrap intervals (`scoring.score(..., interval=True)`) as one printed line."""
  if 'hue_recall_interval' not in row:
    return ''
  low, high = row['hue_recall_interval']
  sectors = ' '.join('n/a' if lo != lo else f'{lo:.2f}-{hi:.2f}' for lo, hi in row['hue_recall_sectors_interval'])
  return f'hue {low:.3f}-{high:.3f}  sectors {sectors}'
