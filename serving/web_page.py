"""The colorize web page itself: HTML, style and script, and the headers that protect it.

The page's inline style and script are allowed by their SHA-256 hashes in its Content-Security-Policy, so no
other script can run in it; every other response gets a CSP that allows nothing.
"""

from __future__ import annotations

import base64
import hashlib
import html

_STYLE = """
 body { font-family: sans-serif; margin: 2em; max-width: 70em; }
 .pair { display: flex; gap: 1em; align-items: flex-start; }
 .pair figure { margin: 0; flex: 1; } .pair img, video { max-width: 100%; }
 #error { color: #b00020; font-weight: bold; }
"""

_SCRIPT = """
const maxBytes = %(max_bytes)d;
const maxClipBytes = %(max_clip_bytes)d;
async function colorize(blob, name) {
  document.getElementById('error').textContent = '';
  document.getElementById('download').hidden = true;
  document.getElementById('output').removeAttribute('src');
  if (blob.size > maxBytes) {
    document.getElementById('error').textContent = `${name} is ${(blob.size / 1e6).toFixed(1)} MB: the limit is ${maxBytes / 1e6} MB.`;
    return;
  }
  document.getElementById('input').src = URL.createObjectURL(blob);
  document.getElementById('status').textContent = 'Colorizing ' + name + ' ...';
  let response;
  try {
    response = await fetch('/api/colorize', {method: 'POST', body: blob,
      headers: {'Content-Type': 'application/octet-stream', 'X-Filename': encodeURIComponent(name)}});
  } catch (e) {
    document.getElementById('status').textContent = '';
    document.getElementById('error').textContent = 'The server did not answer; try again.';
    return;
  }
  document.getElementById('status').textContent = '';
  if (!response.ok) {
    document.getElementById('error').textContent = (await response.json()).error;
    return;
  }
  const url = URL.createObjectURL(await response.blob());
  document.getElementById('output').src = url;
  const link = document.getElementById('download');
  link.href = url; link.download = name.replace(/\\.[^.]*$/, '') + '_colorized.png'; link.hidden = false;
  document.getElementById('status').textContent = 'Done: ' + name;
}
document.getElementById('upload').addEventListener('submit', (e) => {
  e.preventDefault();
  const file = document.getElementById('file').files[0];
  if (file) colorize(file, file.name);
});
document.getElementById('clip-upload').addEventListener('submit', async (e) => {
  e.preventDefault();
  const file = document.getElementById('clip-file').files[0];
  const status = document.getElementById('clip-status'), video = document.getElementById('clip-output');
  const link = document.getElementById('clip-download');
  if (!file) return;
  video.hidden = true; link.hidden = true; document.getElementById('error').textContent = '';
  if (file.size > maxClipBytes) {
    document.getElementById('error').textContent = `${file.name} is ${(file.size / 1e6).toFixed(1)} MB: the limit is ${maxClipBytes / 1e6} MB.`;
    return;
  }
  status.textContent = 'Colorizing ' + file.name + ' (about 10 frames a second) ...';
  let response;
  try {
    response = await fetch('/api/colorize_clip', {method: 'POST', body: file,
      headers: {'Content-Type': 'application/octet-stream', 'X-Filename': encodeURIComponent(file.name)}});
  } catch (e) {
    status.textContent = '';
    document.getElementById('error').textContent = 'The server did not answer; try again.';
    return;
  }
  status.textContent = '';
  if (!response.ok) {
    document.getElementById('error').textContent = (await response.json()).error;
    return;
  }
  const url = URL.createObjectURL(await response.blob());
  video.src = url; video.hidden = false;
  link.href = url; link.download = file.name.replace(/\\.[^.]*$/, '') + '_colorized.mp4'; link.hidden = false;
  status.textContent = 'Done: ' + file.name;
});
document.getElementById('sample').addEventListener('change', async (e) => {
  if (!e.target.value) return;
  const response = await fetch('/samples/' + e.target.value);
  colorize(await response.blob(), e.target.value.split('/').pop());
});
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Colorize a photo</title>
<style>{style}</style></head>
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
<h2>Or a short film clip</h2>
<form id="clip-upload"><input type="file" id="clip-file" accept="video/*"> <button type="submit">Colorize the
clip</button> <small>{clip_limits}</small></form>
<p id="clip-status"></p>
<video id="clip-output" controls hidden></video>
<p><a id="clip-download" download="colorized.mp4" hidden>Download the colorized clip</a></p>
<script>{script}</script>
</body></html>
"""


def csp_hash(text: str) -> str:
  return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode('utf-8')).digest()).decode('ascii') + "'"


# Sent with every response; the page gets its own Content-Security-Policy (its inline style and script allowed by
# hash, images from blob: URLs, fetches to this origin only).
SECURITY_HEADERS = (
    ('X-Content-Type-Options', 'nosniff'),
    ('X-Frame-Options', 'DENY'),
    ('Referrer-Policy', 'no-referrer'),
    ('Cross-Origin-Resource-Policy', 'same-origin'),
)
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def render(samples: list[str], max_upload_bytes: int, max_clip_bytes: int | None = None,
           clip_limits: str = '') -> tuple[bytes, str]:
  """The page (with the bundled samples offered) and its Content-Security-Policy."""
  options = ''.join(f'<option value="{html.escape(s)}">{html.escape(s)}</option>' for s in samples)
  script = _SCRIPT % {'max_bytes': max_upload_bytes,
                      'max_clip_bytes': max_upload_bytes if max_clip_bytes is None else max_clip_bytes}
  page = _PAGE.format(style=_STYLE, script=script, options=options,
                      clip_limits=html.escape(clip_limits)).encode('utf-8')
  csp = (f"default-src 'none'; script-src {csp_hash(script)}; style-src {csp_hash(_STYLE)}; "
         "img-src 'self' blob:; media-src blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
  return page, csp
