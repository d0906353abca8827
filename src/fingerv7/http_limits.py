"""Header-size limit at the HTTP parser, for the orchestrator's API and the worker's server alike:
431 once a request's headers pass MAX_HEADER_BYTES.

uvicorn's httptools parser buffers a header of any size (a 32 MB header was accepted, and four in
parallel tripled the process's memory), and an ASGI middleware only sees headers once they are all
read. So the limit lives in the protocol: the bytes of a request are counted while its headers are
still incomplete, and past the limit the connection is answered 431 and closed. Memory held per
connection stays below the limit plus one socket read. The close lingers (input is discarded for
a moment after the answer), so a client still sending gets the 431 rather than a reset.
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 65_536
LINGER_S = 2.0


class HeaderLimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol that refuses oversized request headers with 431."""

    max_header_bytes = MAX_HEADER_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_headers = True
        self._header_bytes = 0
        self._discarding = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers, self._header_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        super().data_received(data)
        if not self._reading_headers or self.transport.is_closing():
            return
        self._header_bytes += len(data)
        if self._header_bytes > self.max_header_bytes:
            self._refuse_headers()

    def _refuse_headers(self) -> None:
        self._reading_headers, self._discarding = False, True
        body = json.dumps(
            {"detail": f"request headers too large (limit {self.max_header_bytes} bytes)"}
        ).encode()
        lines = [b"HTTP/1.1 431 Request Header Fields Too Large\r\n"]
        lines += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        lines += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(lines))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)
