"""The API's HTTP server: uvicorn's httptools protocol, with the limits uvicorn does not have.

uvicorn over httptools bounds neither the request head nor the time to send a
request. httptools concatenates a header's bytes until the header ends, and
uvicorn keeps every header as a tuple until the head ends: one request of 50 MB
of short headers grew the API by about 240 MiB, and pymalloc kept it. Its
``timeout_keep_alive`` runs only between requests, so a connection that never
sends, or trickles a head or body, is held for ever. (``h11_max_incomplete_event_size``
applies to the h11 protocol only; ``limit_concurrency`` answers 503 to new
requests but frees no held connection.)

So, per connection (the numbers are ``api_limits``, alertflow/config/api.py):
- at most ``max_header_bytes`` of a request's head is handed to the parser;
  past that, or past ``max_headers`` fields, the answer is 431 at once and
  nothing more is kept: what the client still sends is read off the socket
  and dropped for ``LINGER_SECONDS`` (so it sees the answer), then it is closed;
- a request must arrive whole (head and body) within ``request_timeout_seconds``
  of its first byte, else 408 and close; a body being read then ends as a
  client disconnect for the app, which logs one line;
- a connection with no request in flight closes after ``idle_timeout_seconds``:
  uvicorn's keep-alive timer after a response, ours before the first request.
The deadline stops when the request is complete, so slow answers (an ack
waiting on the pipeline) are not cut.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from alertflow.config.api import RequestLimits
from alertflow.config.settings import Settings

log = logging.getLogger("alertflow.api.http")
LINGER_SECONDS = 2.0  # after a refusal: time for the client to see the answer and stop sending


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """One connection of the API; ``limits`` is set on a subclass per server (``server_config``)."""

    limits: RequestLimits = RequestLimits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0  # of the current request's head, fed to the parser so far
        self._header_count = 0
        self._in_head = True  # between a request's first byte and the end of its headers
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._idle: asyncio.TimerHandle | None = self.loop.call_later(self.limits.idle_timeout_seconds, self._close_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._idle, self._deadline, self._linger):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._deadline is None:  # the first byte of a request: from now it has request_timeout_seconds
            self._deadline = self.loop.call_later(self.limits.request_timeout_seconds, self._too_slow)
        if not self._in_head:
            super().data_received(data)
            return
        room = self.limits.max_header_bytes - self._head_bytes
        self._head_bytes += min(len(data), room)
        super().data_received(data[:room])  # never more head than the limit reaches the parser
        if self._refused or self.transport.is_closing():
            return
        if self._in_head and self._head_bytes >= self.limits.max_header_bytes:
            self._refuse(431, f"request head over {self.limits.max_header_bytes} bytes", "headers")
        elif len(data) > room:  # the head ended within the limit; the rest is body (or the next request)
            super().data_received(data[room:])

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._header_count = True, 0
        if self._deadline is None:  # a pipelined request, begun in the same read as the last one's end
            self._deadline = self.loop.call_later(self.limits.request_timeout_seconds, self._too_slow)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:  # the parser goes on through what it was given; nothing of it is kept
            return
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refuse(431, f"more than {self.limits.max_headers} header fields", "headers")
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if not self._refused:  # a refused request never reaches the app
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:  # after a refused head the parser may still find a body in the same read
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0  # what arrives next is the next request's head
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _refuse(self, status: int, message: str, field: str) -> None:
        """Answer ``status`` with our error shape and close; whatever else arrives is read and dropped meanwhile."""
        self._refused = True
        if self.cycle is not None and not self.cycle.response_complete:  # the app is reading this request's body
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if not (self.cycle is not None and self.cycle.response_started):
            body = orjson.dumps({"error": message, "field": field})
            head = b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
            self.transport.write(STATUS_LINE[status] + head + body)
        # Closing with unread bytes makes the kernel send a reset, which can discard our answer at the client
        # before it reads it. So, like nginx's lingering close: end our side, drop what still comes, close soon.
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()
        log.warning("refused a request from %s with %d: %s", _peer(self.client), status, message)

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing() and not self._refused:
            self._refuse(408, f"request not received whole within {self.limits.request_timeout_seconds:g}s", "request")

    def _close_idle(self) -> None:
        self._idle = None
        if not self.transport.is_closing():
            self.transport.close()


def server_config(app: Any, settings: Settings, host: str | None = None) -> uvicorn.Config:
    """uvicorn's config for the API: the bounded protocol, and keep-alive as long as senders keep theirs."""
    limits = settings.api_limits
    protocol = type("ApiHttpProtocol", (BoundedHttpToolsProtocol,), {"limits": limits})
    # Senders keep connections open between notifications (Go's default: 90 s idle). If we
    # closed first (uvicorn's default: 5 s), a POST could race our close and fail.
    return uvicorn.Config(
        app,
        host=host or settings.api_host,
        port=settings.api_port,
        http=protocol,
        log_level="warning",
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,  # json: its lines go through ours
        timeout_keep_alive=limits.idle_timeout_seconds,  # typed int, used as call_later's delay: a float works
    )


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "?"
