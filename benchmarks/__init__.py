"""Benchmarks of the dataset build, training, quality, colorize and the web server; results in benchmarks/results/."""

import json
import os


def write_results(path: str, results: dict) -> None:
  """Writes a benchmark's results as indented JSON (benchmarks/results/*.json), creating the folder."""
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(results, f, indent=2)
