"""A small local web page to colorize a photo (after the original "Color 'em" page): upload one or pick a bundled
sample, see input and result side by side, download the result.

    .venv/bin/colorize-web --model=outputs/serving_model          # http://127.0.0.1:8000
    .venv/bin/python -m serving.web --model=outputs/serving_model
    .venv/bin/colorize-web --runtime=tflite_int8    # photos by the model's TFLite export: no TensorFlow loaded

The HTTP side is waitress (a production WSGI server, pure Python, no dependencies of its own, maintained by the
Pylons project), not the standard library's http.server. Why waitress rather than uvicorn/hypercorn or gunicorn:

* its asyncore I/O thread reads every request completely (headers and body, spooled to a temporary file above
  512 KB) before a worker thread sees it, so clients that stall or trickle (slowloris) cost a socket, not a thread:
  the page and other uploads keep being served by the bounded worker pool (`threads`);
* it parses strictly (malformed or negative `Content-Length`, bad header characters, smuggling-prone header
  combinations -> 400), refuses a body larger than `max_request_body_size` from its `Content-Length` alone
  (413, before reading it), closes connections idle for `channel_timeout` seconds, caps open connections
  (`connection_limit`; the rest wait in the listen backlog, `backlog`, instead of being reset) and header size;
* one process with threads shares one loaded TensorFlow model (gunicorn's pre-fork workers would each load it,
  and its sync workers are exactly the slowloris-prone design we are replacing); uvicorn and hypercorn are
  asyncio servers with more dependencies, and uvicorn has no request-body timeout at all.

On top of it this module

* bounds the memory of the expensive part: at most `--max_concurrent_inference` uploads are decoded and colorized
  at once; up to `--max_queued_uploads` more wait for a slot in arrival order, each for at most
  `--max_queue_wait_s`; an upload past either limit gets 503 (`queue_full` at once, `queue_timeout` after its
  wait) with `Retry-After`, the estimated seconds until the admitted uploads are done. There is a worker thread
  for every admitted upload plus a few, so the page, the samples and the refusals never wait behind them, and
  `--max_connections` is well above the queue so that concurrent uploads reach it rather than the listen backlog;
* colorizes short clips (`/api/colorize_clip`, `serving.web_clips`): within `contracts.limits`' clip limits (bytes,
  seconds, frame size; 413 beyond), holding an inference slot like a photo;
* answers a request that stops arriving with 408 instead of closing it silently: one whose headers or body send
  nothing for `--request_timeout_s` (`request_timeout`), and one whose body ends (the client closes its side)
  before its `Content-Length` (`incomplete_body`). A connection idle between requests is closed without an answer.

`--runtime` picks what colorizes the photos, as for `colorize`: the SavedModel (TensorFlow) or one of the exports
the trainer writes next to it (`serving.runtimes`: TFLite float16 or int8 weights, ONNX), without TensorFlow.
Clips need the SavedModel (the video path runs it frame by frame); with an export they get 501 and a sentence.

Every response (waitress's own 400/408/413/431/500 included) is JSON or the page, carries the security headers, and
names failures with the project's short reasons (`empty`, `not_an_image`, `unsupported_format`, `too_large`,
`truncated`, `corrupt`, `queue_full`, ...) plus a sentence, never internal error text. Bound to 127.0.0.1 by
default.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import threading
from typing import Iterable, Sequence
import urllib.parse

from absl import app
from absl import flags
import waitress
import waitress.wasyncore

from configs import flags as config_flags
from contracts import decode
from contracts import limits
from contracts import runtime_exports
from serving import colorizer as colorizer_lib
from serving import runtimes
from serving import web_clips
from serving import web_http
from serving import web_page
from serving import web_uploads
from serving.web_uploads import Rejected

FLAGS = flags.FLAGS

DEFAULTS = dict(max_upload_mb=15.0, request_timeout_s=10, max_concurrent_inference=2, max_queued_uploads=64,
                max_queue_wait_s=30.0, max_connections=256)
SPARE_THREADS = 4  # worker threads beyond the admitted uploads: the page, the samples, refusals, 408s
LISTEN_BACKLOG = 1024  # connections past `max_connections` wait here (the kernel caps it at net.core.somaxconn)


def define_flags() -> None:
  """This command's flags; defined when it runs (not on import), so several commands share one process."""
  flags.DEFINE_string('model', None, "SavedModel or pushed-model folder (default: the config's push.destination).")
  flags.DEFINE_string('host', '127.0.0.1', 'Address to bind (127.0.0.1: this machine only).')
  flags.DEFINE_integer('port', 8000, 'Port.')
  flags.DEFINE_float('max_upload_mb', DEFAULTS['max_upload_mb'],
                     'Largest accepted upload; larger ones get 413 from their Content-Length, unread.')
  flags.DEFINE_string('samples_dir', 'sample_photos', 'Folder of sample photos offered on the page.')
  flags.DEFINE_integer('request_timeout_s', DEFAULTS['request_timeout_s'],
                       'A request whose headers or body send nothing for this long gets 408; an idle keep-alive '
                       'connection is closed.', lower_bound=1)
  flags.DEFINE_integer('max_concurrent_inference', DEFAULTS['max_concurrent_inference'],
                       'Uploads decoded and colorized at once (bounds memory).', lower_bound=1)
  flags.DEFINE_integer('max_queued_uploads', DEFAULTS['max_queued_uploads'],
                       'Uploads allowed to wait for an inference slot; more get 503 with Retry-After at once.',
                       lower_bound=0)
  flags.DEFINE_float('max_queue_wait_s', DEFAULTS['max_queue_wait_s'],
                     'Longest wait for an inference slot; an upload that waited this long gets 503 with '
                     'Retry-After.', lower_bound=0.1)
  flags.DEFINE_integer('max_connections', DEFAULTS['max_connections'],
                       'Open connections; more wait in the listen backlog until one closes.', lower_bound=8)
  flags.DEFINE_enum('runtime', runtime_exports.SAVED_MODEL, runtime_exports.RUNTIMES,
                    'What colorizes the photos: the SavedModel (TensorFlow) or one of its exports (no TensorFlow; '
                    'clips then get 501).')


class ColorizeApp:
  """The WSGI application: the page, the samples and /api/colorize; one model shared by the worker threads."""

  def __init__(self, colorizer: colorizer_lib.Colorizer | runtimes.RuntimeColorizer, samples_dir: str,
               max_upload_bytes: int,
               max_concurrent_inference: int, max_queued_uploads: int, max_queue_wait_s: float):
    self.colorizer = colorizer
    self.samples_dir = os.path.abspath(samples_dir)
    self.samples = sorted(os.path.relpath(p, self.samples_dir)
                          for p in glob.glob(os.path.join(self.samples_dir, '**', '*.jpg'), recursive=True))
    self.max_upload_bytes = max_upload_bytes
    self.max_clip_bytes = min(limits.WEB_MAX_CLIP_BYTES, max_upload_bytes)  # the server reads no larger body
    self._predictor = None  # for clips, made from the loaded model on the first clip
    self.slots = web_uploads.InferenceSlots(max_concurrent_inference, max_queued_uploads, max_queue_wait_s)
    self.page, self.page_csp = web_page.render(self.samples, max_upload_bytes, self.max_clip_bytes,
                                               web_clips.limits_sentence(self.max_clip_bytes))

  def __call__(self, environ, start_response) -> Iterable[bytes]:
    try:
      status, content_type, body, headers = self._route(environ)
    except Rejected as e:
      status, content_type, body, headers = e.status, 'application/json', web_http.error_body(e.reason, e.message), e.headers
    except Exception:  # pylint: disable=broad-except
      logging.exception('colorize-web: unexpected error')
      status, content_type, body, headers = (500, 'application/json',
                                             web_http.error_body('internal', 'Something went wrong on the server.'), ())
    csp = self.page_csp if content_type.startswith('text/html') else web_page.DEFAULT_CSP
    start_response(web_http.status_line(status), web_http.response_headers(content_type, len(body), csp) + list(headers))
    return [body]

  def _route(self, environ):
    path = environ.get('PATH_INFO', '')
    method = environ['REQUEST_METHOD']
    if path == '/api/colorize':
      if method != 'POST':
        raise Rejected(405, 'method_not_allowed', 'Use POST to upload a photo.', [('Allow', 'POST')])
      return self._colorize(environ)
    if path == '/api/colorize_clip':
      if method != 'POST':
        raise Rejected(405, 'method_not_allowed', 'Use POST to upload a clip.', [('Allow', 'POST')])
      return self._colorize_clip(environ)
    if method not in ('GET', 'HEAD'):
      raise Rejected(405, 'method_not_allowed', 'This page is read with GET.', [('Allow', 'GET, HEAD')])
    if path == '/':
      return 200, 'text/html; charset=utf-8', self.page, ()
    if path.startswith('/samples/') and path[len('/samples/'):] in self.samples:
      with open(os.path.join(self.samples_dir, path[len('/samples/'):]), 'rb') as f:
        return 200, 'image/jpeg', f.read(), ()
    raise Rejected(404, 'not_found', 'Not found.')

  def _colorize(self, environ):
    name = urllib.parse.unquote(environ.get('HTTP_X_FILENAME') or 'upload')[:200]
    length = int(environ.get('CONTENT_LENGTH') or 0)  # waitress has validated it (digits, within the limit)
    if length > self.max_upload_bytes:  # chunked uploads are counted by waitress as they arrive
      raise Rejected(413, decode.TOO_LARGE,
                     f'{name} is {web_uploads.mb(length)}: the limit is '
                     f'{web_uploads.limit_mb(self.max_upload_bytes)}.')
    with self.slots.hold():
      data = environ['wsgi.input'].read(length)
      prepared = web_uploads.validate(data, name)
      png = self.colorizer.colorize(prepared)
    return 200, 'image/png', png, (('Cache-Control', 'no-store'),)

  def _colorize_clip(self, environ):
    name = urllib.parse.unquote(environ.get('HTTP_X_FILENAME') or 'clip')[:200]
    length = int(environ.get('CONTENT_LENGTH') or 0)
    if length > self.max_clip_bytes:
      raise Rejected(413, decode.TOO_LARGE, f'{name} is {web_uploads.mb(length)}: clips are '
                                            f'{web_clips.limits_sentence(self.max_clip_bytes)}.')
    if isinstance(self.colorizer, runtimes.RuntimeColorizer):
      raise Rejected(501, 'clips_need_savedmodel', f'Clips are colorized by the SavedModel; this server runs the '
                                                   f'{self.colorizer.runtime} export (start it with '
                                                   f'--runtime={runtime_exports.SAVED_MODEL} for clips).')
    with self.slots.hold():
      if self._predictor is None:
        # Lazy: the video stack (PyAV, OpenCV) loads on the first clip, not at server start.
        from serving.video import predictor as predictor_lib  # pylint: disable=g-import-not-at-top
        self._predictor = predictor_lib.Predictor(self.colorizer.model_dir, self.colorizer.model)
      mp4 = web_clips.colorize_clip(environ['wsgi.input'].read(length), name, self._predictor)
    return 200, 'video/mp4', mp4, (('Cache-Control', 'no-store'),)


class WebServer:
  """A waitress server around `ColorizeApp`; `run()` serves in this thread, `shutdown()` stops it."""

  def __init__(self, model_path: str | None = None, host: str = '127.0.0.1', port: int = 8000,
               samples_dir: str = 'sample_photos', max_upload_mb: float = DEFAULTS['max_upload_mb'],
               request_timeout_s: float = DEFAULTS['request_timeout_s'],
               max_concurrent_inference: int = DEFAULTS['max_concurrent_inference'],
               max_queued_uploads: int = DEFAULTS['max_queued_uploads'],
               max_queue_wait_s: float = DEFAULTS['max_queue_wait_s'],
               max_connections: int = DEFAULTS['max_connections'],
               colorizer: colorizer_lib.Colorizer | runtimes.RuntimeColorizer | None = None,
               runtime: str = runtime_exports.SAVED_MODEL):
    if colorizer is None:
      colorizer = (colorizer_lib.Colorizer(model_path) if runtime == runtime_exports.SAVED_MODEL
                   else runtimes.RuntimeColorizer(model_path, runtime))
    self.colorizer = colorizer
    max_upload_bytes = int(max_upload_mb * 1e6)
    self.app = ColorizeApp(self.colorizer, samples_dir, max_upload_bytes, max_concurrent_inference,
                           max_queued_uploads, max_queue_wait_s)
    # Worker threads: every admitted upload (running or queued) holds one, plus a few for the page, samples,
    # refusals and 408s, so those are never stuck behind the uploads.
    threads = max_concurrent_inference + max_queued_uploads + SPARE_THREADS
    self.server = waitress.create_server(
        self.app, host=host, port=port, threads=threads, connection_limit=max_connections,
        backlog=LISTEN_BACKLOG, channel_timeout=max(1, math.ceil(request_timeout_s)), cleanup_interval=1,
        max_request_body_size=max_upload_bytes + 1, max_request_header_size=64 * 1024,
        ident='', expose_tracebacks=False, clear_untrusted_proxy_headers=True)
    self.server.channel_class = web_http.Channel
    self.server.maintenance = lambda now: web_http.maintenance(self.server, now)  # waitress's periodic check, with 408s
    self.host, self.port = self.server.effective_host, self.server.effective_port
    self._thread: threading.Thread | None = None

  @property
  def url(self) -> str:
    return f'http://{self.host}:{self.port}'

  def run(self) -> None:
    self.server.run()

  def start(self) -> 'WebServer':
    self._thread = threading.Thread(target=self.run, name='colorize-web', daemon=True)
    self._thread.start()
    return self

  def shutdown(self) -> None:
    """Closes the listening socket and every connection (from the I/O thread), then stops the workers."""
    done = threading.Event()

    def close_all():
      waitress.wasyncore.close_all(self.server._map)  # pylint: disable=protected-access
      done.set()

    self.server.trigger.pull_trigger(close_all)
    done.wait(10)
    self.server.task_dispatcher.shutdown()
    if self._thread:
      self._thread.join(10)


def serve(model_path: str | None = None, host: str = '127.0.0.1', port: int = 8000,
          samples_dir: str = 'sample_photos', max_upload_mb: float = DEFAULTS['max_upload_mb'],
          **limits) -> WebServer:
  """A started server (in a background thread); `server.shutdown()` stops it. `limits`: request_timeout_s,
  max_concurrent_inference, max_queued_uploads, max_queue_wait_s, max_connections, colorizer (an already loaded
  model), runtime (`contracts.runtime_exports.RUNTIMES`)."""
  return WebServer(model_path, host, port, samples_dir, max_upload_mb, **limits).start()


def main(argv: Sequence[str]) -> None:
  del argv
  logging.getLogger('waitress.queue').setLevel(logging.ERROR)  # "Task queue depth is N": expected under load
  model = FLAGS.model or config_flags.config_from_flags().push.destination
  server = WebServer(model, FLAGS.host, FLAGS.port, FLAGS.samples_dir, FLAGS.max_upload_mb,
                     request_timeout_s=FLAGS.request_timeout_s,
                     max_concurrent_inference=FLAGS.max_concurrent_inference,
                     max_queued_uploads=FLAGS.max_queued_uploads, max_queue_wait_s=FLAGS.max_queue_wait_s,
                     max_connections=FLAGS.max_connections, runtime=FLAGS.runtime)
  shown = server.colorizer.model_dir if FLAGS.runtime == runtime_exports.SAVED_MODEL else server.colorizer.path
  print(f'Colorize page on {server.url}/ (model {shown}); Ctrl-C to stop', flush=True)
  try:
    server.run()
  except KeyboardInterrupt:
    pass


def console_main() -> None:
  define_flags()
  app.run(main)


if __name__ == '__main__':
  console_main()
