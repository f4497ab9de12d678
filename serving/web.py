"""A small local web page to colorize a photo (after the original "Color 'em" page): upload one or pick a bundled
sample, see input and result side by side, download the result.

    .venv/bin/python -m serving.web --model=outputs/serving_model          # http://127.0.0.1:8000

Standard library only (ThreadingHTTPServer). Bound to 127.0.0.1 by default; uploads are limited in size
(`--max_upload_mb`) and type (what PIL can decode, within the pixel limit), with clear messages.
"""

from __future__ import annotations

import glob
import html
import http.server
import json
import os
import threading
from typing import Sequence
import urllib.parse

from absl import app
from absl import flags

from configs import flags as config_flags
from serving import colorizer as colorizer_lib

FLAGS = flags.FLAGS


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so several commands share one process."""
  flags.DEFINE_string('model', None, "SavedModel or pushed-model folder (default: the config's push.destination).")
  flags.DEFINE_string('host', '127.0.0.1', 'Address to bind (127.0.0.1: this machine only).')
  flags.DEFINE_integer('port', 8000, 'Port.')
  flags.DEFINE_float('max_upload_mb', 15.0, 'Largest accepted upload.')
  flags.DEFINE_string('samples_dir', 'sample_photos', 'Folder of sample photos offered on the page.')


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Colorize a photo</title>
<style>
 body {{ font-family: sans-serif; margin: 2em; max-width: 70em; }}
 .pair {{ display: flex; gap: 1em; align-items: flex-start; }}
 .pair figure {{ margin: 0; flex: 1; }} .pair img {{ max-width: 100%; }}
 #error {{ color: #b00020; font-weight: bold; }}
</style></head>
<body>
<h1>Colorize a black-and-white photo</h1>
<form id="upload"><input type="file" id="file" accept="image/*"> <button type="submit">Colorize</button></form>
<p>or pick a sample: <select id="sample"><option value="">—</option>{options}</select></p>
<p id="status"></p><p id="error" role="alert"></p>
<div class="pair">
 <figure><figcaption>Input</figcaption><img id="input" alt=""></figure>
 <figure><figcaption>Colorized</figcaption><img id="output" alt=""></figure>
</div>
<p><a id="download" download="colorized.png" hidden>Download the colorized photo</a></p>
<script>
const maxBytes = {max_bytes};
async function colorize(blob, name) {{
  document.getElementById('error').textContent = '';
  document.getElementById('download').hidden = true;
  document.getElementById('output').removeAttribute('src');
  if (blob.size > maxBytes) {{
    document.getElementById('error').textContent = `${{name}} is ${{(blob.size / 1e6).toFixed(1)}} MB: the limit is ${{maxBytes / 1e6}} MB.`;
    return;
  }}
  document.getElementById('input').src = URL.createObjectURL(blob);
  document.getElementById('status').textContent = 'Colorizing ' + name + ' ...';
  const response = await fetch('/api/colorize', {{method: 'POST', body: blob,
    headers: {{'Content-Type': 'application/octet-stream', 'X-Filename': encodeURIComponent(name)}}}});
  document.getElementById('status').textContent = '';
  if (!response.ok) {{
    document.getElementById('error').textContent = (await response.json()).error;
    return;
  }}
  const url = URL.createObjectURL(await response.blob());
  document.getElementById('output').src = url;
  const link = document.getElementById('download');
  link.href = url; link.download = name.replace(/\\.[^.]*$/, '') + '_colorized.png'; link.hidden = false;
  document.getElementById('status').textContent = 'Done: ' + name;
}}
document.getElementById('upload').addEventListener('submit', (e) => {{
  e.preventDefault();
  const file = document.getElementById('file').files[0];
  if (file) colorize(file, file.name);
}});
document.getElementById('sample').addEventListener('change', async (e) => {{
  if (!e.target.value) return;
  const response = await fetch('/samples/' + e.target.value);
  colorize(await response.blob(), e.target.value.split('/').pop());
}});
</script>
</body></html>
"""


class ColorizeServer(http.server.ThreadingHTTPServer):
  """The page, the samples and /api/colorize; one model shared by the request threads (inference serialized)."""

  daemon_threads = True

  def __init__(self, address, model_path: str, samples_dir: str, max_upload_bytes: int):
    self.colorizer = colorizer_lib.Colorizer(model_path)
    self.samples_dir = os.path.abspath(samples_dir)
    self.samples = sorted(os.path.relpath(p, self.samples_dir)
                          for p in glob.glob(os.path.join(self.samples_dir, '**', '*.jpg'), recursive=True))
    self.max_upload_bytes = max_upload_bytes
    self.lock = threading.Lock()
    super().__init__(address, _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
  server: ColorizeServer

  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    pass

  def _send(self, status: int, body: bytes, content_type: str) -> None:
    self.send_response(status)
    self.send_header('Content-Type', content_type)
    self.send_header('Content-Length', str(len(body)))
    self.end_headers()
    self.wfile.write(body)

  def _error(self, status: int, message: str) -> None:
    self._send(status, json.dumps({'error': message}).encode('utf-8'), 'application/json')

  def do_GET(self):  # pylint: disable=invalid-name
    path = urllib.parse.unquote(urllib.parse.urlparse(self.path).path)
    if path == '/':
      options = ''.join(f'<option value="{html.escape(s)}">{html.escape(s)}</option>' for s in self.server.samples)
      page = _PAGE.format(options=options, max_bytes=self.server.max_upload_bytes)
      self._send(200, page.encode('utf-8'), 'text/html; charset=utf-8')
    elif path.startswith('/samples/') and path[len('/samples/'):] in self.server.samples:
      with open(os.path.join(self.server.samples_dir, path[len('/samples/'):]), 'rb') as f:
        self._send(200, f.read(), 'image/jpeg')
    else:
      self._error(404, 'not found')

  def do_POST(self):  # pylint: disable=invalid-name
    if urllib.parse.urlparse(self.path).path != '/api/colorize':
      self._error(404, 'not found')
      return
    length = int(self.headers.get('Content-Length') or 0)
    name = urllib.parse.unquote(self.headers.get('X-Filename') or 'upload')
    limit_mb = self.server.max_upload_bytes / 1e6
    if length > self.server.max_upload_bytes:
      # Drain a bounded amount so the client, still sending, can read the answer instead of a broken pipe.
      remaining = min(length, 4 * self.server.max_upload_bytes)
      while remaining > 0:
        chunk = self.rfile.read(min(remaining, 1 << 16))
        if not chunk:
          break
        remaining -= len(chunk)
      self.close_connection = True
      self._error(413, f'{name} is {length / 1e6:.1f} MB: the limit is {limit_mb:g} MB.')
      return
    data = self.rfile.read(length)
    try:
      prepared = colorizer_lib.prepare(data)
      with self.server.lock:
        png = self.server.colorizer.colorize(prepared)
    except colorizer_lib.ColorizeError as e:
      self._error(415, f'{name}: {e}. Upload a JPEG, PNG, WebP, BMP or GIF photo.')
      return
    self._send(200, png, 'image/png')


def serve(model_path: str, host: str = '127.0.0.1', port: int = 8000, samples_dir: str = 'sample_photos',
          max_upload_mb: float = 15.0) -> ColorizeServer:
  """A started server (in a background thread); `server.shutdown()` stops it."""
  server = ColorizeServer((host, port), model_path, samples_dir, int(max_upload_mb * 1e6))
  threading.Thread(target=server.serve_forever, name='colorize-web', daemon=True).start()
  return server


def main(argv: Sequence[str]) -> None:
  del argv
  model = FLAGS.model or config_flags.config_from_flags().push.destination
  server = ColorizeServer((FLAGS.host, FLAGS.port), model, FLAGS.samples_dir, int(FLAGS.max_upload_mb * 1e6))
  print(f'Colorize page on http://{FLAGS.host}:{server.server_address[1]}/ (model {server.colorizer.model_dir}); '
        'Ctrl-C to stop', flush=True)
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    pass


def console_main() -> None:
  define_flags()
  app.run(main)


if __name__ == '__main__':
  console_main()
