"""The HTTP layer under the web page's WSGI app: waitress's channel and error task, changed so that every refusal
is this server's JSON with the security headers, and a request that stops arriving gets 408 instead of a silent
close (`serving/web.py` explains the limits).
"""

from __future__ import annotations

import http
import json
import time
import urllib.parse

import waitress.channel
import waitress.task
import waitress.utilities

from contracts import decode
from serving import web_page
from serving import web_uploads


def status_line(status: int) -> str:
  return f'{status} {http.HTTPStatus(status).phrase}'


def error_body(reason: str, message: str) -> bytes:
  return json.dumps({'error': message, 'reason': reason}).encode('utf-8')


def response_headers(content_type: str, length: int, csp: str = web_page.DEFAULT_CSP) -> list[tuple[str, str]]:
  return [('Content-Type', content_type), ('Content-Length', str(length)), ('Content-Security-Policy', csp),
          *web_page.SECURITY_HEADERS]


class _Incomplete(waitress.utilities.Error):
  """A request that stopped arriving: 408 (or 400 before its headers were complete) with a reason word."""

  def __init__(self, code: int, reason: str, message: str):
    super().__init__(message)
    self.code, self.reason_word, self.message = code, reason, message
    self.reason = 'Request Timeout' if code == 408 else 'Bad Request'


def _upload_name(request) -> str:
  return urllib.parse.unquote(request.headers.get('X_FILENAME', 'upload'))[:200]


def _received(request) -> str:
  """How much of the body arrived, for the 408 message: '10 of 1000 bytes' (or '10 bytes' when chunked)."""
  got = len(request.body_rcv) if request.body_rcv is not None else 0
  return f'{got} bytes' if request.chunked else f'{got} of {request.content_length} bytes'


def _stalled(request, timeout_s: int) -> _Incomplete:
  if not request.headers_finished:
    return _Incomplete(408, 'request_timeout', f'The request stopped before its headers were complete: nothing '
                                               f'arrived for {timeout_s} s (the request timeout).')
  return _Incomplete(408, 'request_timeout',
                     f'{_upload_name(request)}: the upload stopped after {_received(request)}: nothing arrived for '
                     f'{timeout_s} s (the request timeout); send it again.')


def _ended_early(request) -> _Incomplete:
  if not request.headers_finished:
    return _Incomplete(400, 'bad_request', 'The request ended before its headers were complete.')
  declared = 'its end of chunks' if request.chunked else 'its Content-Length'
  return _Incomplete(408, 'incomplete_body',
                     f'{_upload_name(request)}: the upload ended after {_received(request)}, before {declared}; '
                     f'send the whole file again.')


class _ErrorTask(waitress.task.ErrorTask):
  """waitress's own refusals (bad request line or headers, body over the limit, header too large, a crash) and this
  server's 408s in this server's JSON form with the security headers, instead of waitress's plain-text body naming
  the server."""

  def execute(self):
    error = self.request.error
    code = error.code
    max_upload_bytes = self.channel.server.adj.max_request_body_size - 1
    if isinstance(error, _Incomplete):
      reason, message = error.reason_word, error.message
    elif code == 413:
      name = _upload_name(self.request)
      length = self.request.content_length
      size = f'{name} is {web_uploads.mb(length)}' if length > max_upload_bytes else f'{name} is too large'
      reason, message = decode.TOO_LARGE, f'{size}: the limit is {web_uploads.limit_mb(max_upload_bytes)}.'
    elif code == 431:
      reason, message = 'headers_too_large', 'The request headers are too large.'
    elif 400 <= code < 500:
      reason, message = 'bad_request', 'Malformed HTTP request (request line or headers).'
    else:
      reason, message = 'internal', 'Something went wrong on the server.'
    body = error_body(reason, message)
    self.status = status_line(code)
    self.response_headers.extend(response_headers('application/json', len(body)))
    self.set_close_on_finish()
    self.content_length = len(body)
    self.write(body)


class Channel(waitress.channel.HTTPChannel):
  """waitress's channel, except that a request which stops arriving is answered (`answer_incomplete`) rather than
  dropped: on a stall (from `maintenance`) and when the client closes its side before the request is complete."""

  error_task_class = _ErrorTask

  def handle_read(self):
    try:
      data = self.socket.recv(self.adj.recv_bytes)
    except (BlockingIOError, InterruptedError):
      return
    except OSError:  # reset, or any other socket error: nobody to answer
      self.handle_close()
      return
    if data:
      self.last_activity = time.time()
      self.received(data)
    elif self.request is not None and not (self.will_close or self.close_when_flushed):
      self.answer_incomplete(_ended_early(self.request))  # half-closed: the answer can still be read
    else:
      self.handle_close()

  def answer_incomplete(self, error: _Incomplete) -> None:
    """Queues the answer to the partial request `self.request` (from the I/O thread); the connection closes after."""
    with self.requests_lock:
      request, self.request = self.request, None
      request.error = error
      request.completed = True
      self.requests.append(request)
      if len(self.requests) == 1:
        self.server.add_task(self)


def maintenance(server, now: float) -> None:
  """waitress's periodic check (every `cleanup_interval`, in the I/O thread) with 408s: a connection silent for
  `channel_timeout` seconds in the middle of a request gets 408; an idle one (between requests, or not reading
  its answer) is closed."""
  timeout_s = server.adj.channel_timeout
  for channel in list(server.active_channels.values()):
    if channel.requests or channel.last_activity >= now - timeout_s:
      continue
    if channel.request is not None and not (channel.will_close or channel.close_when_flushed):
      channel.answer_incomplete(_stalled(channel.request, timeout_s))
      channel.last_activity = now
    else:
      channel.will_close = True
