"""The evaluation's files: metrics.json, report.html (metrics next to the references, hue sectors, loss curves,
gray | prediction | original samples). Written through TFX's filesystem layer: works on gs:// as locally."""

from __future__ import annotations

import html
import io
import json
import math
import os
from typing import Any

import numpy as np
from PIL import Image
from tfx.dsl.io import fileio

from contracts import schema
from contracts import strips
from trainer.objective import metrics

SECTOR_NAMES = [f'{start}-{start + 60}°' for start in range(0, 360, 60)]


def _png_bytes(rgb: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(rgb).save(buffer, format='PNG')
  return buffer.getvalue()


def _write(path: str, data: bytes | str) -> None:
  with fileio.open(path, 'wb' if isinstance(data, bytes) else 'w') as f:
    f.write(data)


def _cell(value: Any) -> str:
  if value is None:
    return ''
  if isinstance(value, float):
    return 'n/a' if math.isnan(value) else f'{value:.4f}'
  return html.escape(str(value))


def write_metrics(out_dir: str, summary: dict[str, Any]) -> None:
  fileio.makedirs(out_dir)
  _write(os.path.join(out_dir, 'metrics.json'), json.dumps(summary, indent=2))


def write_report(out_dir: str, summary: dict[str, Any], records, predictions, samples: int,
                 loss_curves: str | None) -> None:
  """report.html and its pictures under `out_dir` (local or remote)."""
  candidate, baseline, references = summary['candidate'], summary['baseline'], summary['references']
  fileio.makedirs(os.path.join(out_dir, 'samples'))
  rows = []
  for i, (record, ab) in enumerate(zip(records[:samples], predictions[:samples])):
    lab = record[schema.LAB]
    strip = strips.gray_prediction_original(lab[..., :1], ab, lab[..., 1:])
    name = f'samples/{i:03d}.png'
    _write(os.path.join(out_dir, name), _png_bytes(strip))
    rows.append(f'<figure><img src="{name}" width="{3 * 2 * lab.shape[1]}"><figcaption>'
                f'{html.escape(os.path.basename(record[schema.SOURCE_URI]))}</figcaption></figure>')
  if loss_curves and fileio.exists(loss_curves):
    fileio.copy(loss_curves, os.path.join(out_dir, 'loss_curves.png'), overwrite=True)
  baseline_name = {'start': 'start model', 'latest_blessed': 'latest blessed model'}.get(
      summary.get('baseline_kind'), 'baseline')
  columns = [('candidate', candidate), (baseline_name, baseline), ('no colour', references['gray']),
             ('constant sepia', references['sepia'])]
  header = ''.join(f'<th>{name}</th>' for name, _ in columns)
  keys = [k for k, v in candidate.items() if not isinstance(v, list)]
  table = ''.join(f'<tr><td>{html.escape(k)}</td>' + ''.join(
      f'<td>{_cell(None if c is None else c.get(k))}</td>' for _, c in columns) + '</tr>' for k in keys)
  sectors = ''.join(f'<tr><td>hue {name}</td>' + ''.join(
      f'<td>{_cell(None if c is None else c["hue_recall_sectors"][i])}</td>' for _, c in columns) + '</tr>'
                    for i, name in enumerate(SECTOR_NAMES))
  verdict = 'BLESSED' if summary['blessed'] else 'NOT BLESSED: ' + html.escape('; '.join(summary['reasons']))
  page = (f'<!doctype html><meta charset="utf-8"><title>Colorization evaluation</title>'
          f'<h1>{verdict}</h1><table border="1"><tr><th>metric</th>{header}</tr>{table}</table>'
          f'<h2>Hue-balanced recall per sector of the true hue</h2><p>Share of truly coloured pixels (chroma &ge; '
          f'{metrics.HUE_TRUE_CHROMA:g}) coloured (chroma &ge; {metrics.HUE_PREDICTED_CHROMA:g}) within '
          f'{metrics.HUE_TOLERANCE_DEGREES:g}° of the true hue.</p><table border="1"><tr><th>sector</th>{header}'
          f'</tr>{sectors}</table><h2>Loss curves</h2><img src="loss_curves.png">'
          f'<h2>Samples: gray input | prediction | original</h2>{"".join(rows)}')
  _write(os.path.join(out_dir, 'report.html'), page)
