"""Local test streams: endless WAV tones over HTTP on 127.0.0.1, for demos and failure drills.

`GET /stream/<n>.wav` answers like an internet radio: a WAV header, then 8 kHz 16-bit mono PCM
(a sine whose pitch depends on `n`) paced in real time, until the client goes away. The server
counts open connections per stream, so a test can see who listens to what.
"""

from __future__ import annotations

import math
import re
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler

from fingerv7.background_http import BackgroundHttpServer

SAMPLE_RATE_HZ = 8000
CHUNK_S = 0.1
_STREAM_PATH = re.compile(r"^/stream/(\d+)(?:\.wav)?$")


def wav_header(sample_rate_hz: int = SAMPLE_RATE_HZ) -> bytes:
    """A WAV header for an endless 16-bit mono stream (sizes set to the maximum)."""
    byte_rate = sample_rate_hz * 2
    unknown_size = 0xFFFFFFFF
    return (
        b"RIFF"
        + struct.pack("<I", unknown_size)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate_hz, byte_rate, 2, 16)
        + b"data"
        + struct.pack("<I", unknown_size)
    )


def tone_chunk(stream_number: int, sample_rate_hz: int = SAMPLE_RATE_HZ) -> bytes:
    """`CHUNK_S` seconds of the stream's tone (a whole number of periods, so chunks join up)."""
    frequency_hz = 200.0 + 25.0 * (stream_number % 40)
    samples = int(sample_rate_hz * CHUNK_S)
    return b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * frequency_hz * i / sample_rate_hz)))
        for i in range(samples)
    )


class LocalStreamServer(BackgroundHttpServer):
    """A threaded HTTP server of test streams; `start()` returns at once, `stop()` ends it."""

    thread_name = "sample-streams"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._open: Counter[int] = Counter()
        self._opened_total: Counter[int] = Counter()
        self._down: set[int] = set()
        super().__init__(host, port)

    def url(self, stream_number: int) -> str:
        return f"{self.base_url}/stream/{stream_number}.wav"

    def open_connections(self) -> dict[int, int]:
        """Stream number → connections open right now (streams with none are left out)."""
        with self._lock:
            return {n: c for n, c in self._open.items() if c > 0}

    def connections_opened(self) -> dict[int, int]:
        """Stream number → connections ever opened."""
        with self._lock:
            return dict(self._opened_total)

    def take_down(self, stream_number: int) -> None:
        """The stream goes off air: listeners are cut and new ones get 503 until brought back."""
        with self._lock:
            self._down.add(stream_number)

    def bring_back(self, stream_number: int) -> None:
        with self._lock:
            self._down.discard(stream_number)

    def _is_down(self, number: int) -> bool:
        with self._lock:
            return number in self._down

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class StreamHandler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                match = _STREAM_PATH.match(self.path.split("?", 1)[0])
                if match is None:
                    self.send_error(404, "no such stream; try /stream/1.wav")
                    return
                server._serve_stream(self, int(match.group(1)))

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the drills open and close many streams

        return StreamHandler

    def _serve_stream(self, handler: BaseHTTPRequestHandler, number: int) -> None:
        if self._is_down(number):
            handler.send_error(503, "stream off air")
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "audio/wav")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("icy-name", f"Test stream {number}")
        handler.end_headers()
        chunk = tone_chunk(number)
        with self._lock:
            self._open[number] += 1
            self._opened_total[number] += 1
        try:
            handler.wfile.write(wav_header())
            next_send = time.monotonic()
            while not self._stopping.is_set() and not self._is_down(number):
                handler.wfile.write(chunk)
                handler.wfile.flush()
                next_send += CHUNK_S
                # Real-time pacing, like a radio; wait() also ends promptly on stop().
                self._stopping.wait(max(0.0, next_send - time.monotonic()))
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        finally:
            with self._lock:
                self._open[number] -= 1
