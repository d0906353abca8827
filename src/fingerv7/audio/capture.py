"""Capture of one live stream: HTTP in the event loop, decoding on a thread, PCM in a window.

The event loop reads the response with httpx (so cancelling the stream's task stops the
connection at once and bytes are counted where the worker's counters live) and hands the bytes
to a decoding thread (:mod:`fingerv7.audio.decoding`). The window keeps the latest audio, so
identification runs every few seconds on it without ever reconnecting. When the connection
drops, ends or stalls, capture reconnects with exponential backoff and clears the window.

HTTP/Icecast streams in MP3, AAC (ADTS) and Ogg (Vorbis, Opus), and WAV, are decoded here; HLS
playlists (`.m3u8`) are captured by :class:`fingerv7.audio.hls.HlsCapture`, a subclass that
fetches the segments (:func:`fingerv7.audio.hls.create_capture` picks the class for a URL).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from fingerv7.audio.decoding import (
    ByteFeed,
    StreamDecodeError,
    decode_into_window,
    run_on_own_thread,
)
from fingerv7.audio.window import RollingWindow
from fingerv7.processing import StreamStats, describe_error, pause_before_reconnecting
from fingerv7.reconnect_log import ReconnectLog
from fingerv7.retry import ExponentialBackoff

logger = logging.getLogger("fingerv7.audio.capture")

# Bytes not yet decoded beyond which reading pauses (TCP then slows the server down).
MAX_UNDECODED_BYTES = 1 << 20
_BACKPRESSURE_PAUSE_S = 0.02

_FORMATS_BY_CONTENT_TYPE = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mpeg3": "mp3",
    "audio/x-mpeg": "mp3",
    "audio/aac": "aac",
    "audio/aacp": "aac",
    "audio/x-aac": "aac",
    "application/ogg": "ogg",
    "audio/ogg": "ogg",
    "audio/vorbis": "ogg",
    "audio/opus": "ogg",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
}


def format_from_content_type(content_type: str | None) -> str | None:
    """FFmpeg's demuxer name for a Content-Type, or None to let FFmpeg probe the bytes."""
    if not content_type:
        return None
    return _FORMATS_BY_CONTENT_TYPE.get(content_type.split(";", 1)[0].strip().lower())


@dataclass(frozen=True, slots=True)
class CaptureTimeouts:
    """How long to wait for a connection, for bytes, and between reconnection attempts."""

    connect_s: float = 10.0
    read_s: float = 30.0  # a live stream silent this long is treated as dropped
    reconnect_base_s: float = 0.5
    reconnect_max_s: float = 30.0


class WindowProgress:
    """Lets the event loop wait until the window has grown to a number of samples.

    The decoding thread calls :meth:`audio_arrived` after every packet; it wakes the loop only
    when a waiter's target is reached (or the window was cleared), not for every packet.
    """

    def __init__(self, window: RollingWindow, loop: asyncio.AbstractEventLoop) -> None:
        self._window = window
        self._loop = loop
        self._lock = threading.Lock()
        self._target: tuple[int, int] | None = None  # (generation, samples)
        self._reached = asyncio.Event()

    def audio_arrived(self) -> None:
        with self._lock:
            if self._target is None or not self._is_reached(*self._target):
                return
            self._target = None
        try:
            self._loop.call_soon_threadsafe(self._reached.set)
        except RuntimeError:
            pass  # loop closed while the thread finished its last packet

    async def wait_for(self, generation: int, samples: int) -> None:
        """Return once the window holds `samples` samples since clear, or was cleared again."""
        while True:
            self._reached.clear()
            with self._lock:
                if self._is_reached(generation, samples):
                    self._target = None
                    return
                self._target = (generation, samples)
            await self._reached.wait()  # may be a wake-up meant for an earlier target: re-check

    def _is_reached(self, generation: int, samples: int) -> bool:
        return self._window.generation != generation or self._window.samples_since_clear >= samples


class StreamCapture:
    """Keeps `window` filled with the latest audio of one stream, reconnecting as needed."""

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        window: RollingWindow,
        sample_rate_hz: int,
        *,
        timeouts: CaptureTimeouts | None = None,
        label: str = "",
    ) -> None:
        self.url = url
        self.window = window
        self.sample_rate_hz = sample_rate_hz
        self.timeouts = timeouts or CaptureTimeouts()
        self.connections = 0
        self._http = http
        self._label = label or url
        self._progress: WindowProgress | None = None
        # Servers sometimes announce the wrong Content-Type; once it has failed us, FFmpeg probes.
        self._trust_content_type = True

    def progress(self) -> WindowProgress:
        """The waiter for this capture's window (bound to the running loop)."""
        if self._progress is None:
            self._progress = WindowProgress(self.window, asyncio.get_running_loop())
        return self._progress

    async def run_forever(self, stats: StreamStats) -> None:
        """Capture until cancelled; every drop is counted and followed by a backoff."""
        backoff = ExponentialBackoff(self.timeouts.reconnect_base_s, self.timeouts.reconnect_max_s)
        reconnects = ReconnectLog(logger, self._label)
        while True:
            audio_before = self.window.generation
            try:
                await self.capture_once(stats)
                problem = "stream ended"
            except (httpx.HTTPError, OSError, StreamDecodeError) as error:
                problem = describe_error(error)
            delivered = bool(
                self.window.generation == audio_before + 1 and self.window.samples_since_clear
            )
            await pause_before_reconnecting(
                stats, backoff, problem, reconnects, delivered_audio=delivered
            )

    async def capture_once(self, stats: StreamStats) -> None:
        """One connection: read and decode until the stream ends; raises when it fails."""
        timeout = httpx.Timeout(self.timeouts.connect_s, read=self.timeouts.read_s)
        async with self._http.stream("GET", self.url, timeout=timeout) as response:
            response.raise_for_status()
            self.connections += 1
            _note_format(stats, response.headers)  # codec and bitrate, for stream health
            self.window.clear()
            progress = self.progress()
            progress.audio_arrived()  # wake a waiter: the window was cleared
            feed = ByteFeed()
            format_hint = None
            if self._trust_content_type:
                format_hint = format_from_content_type(response.headers.get("content-type"))
            decoding = asyncio.ensure_future(
                run_on_own_thread(
                    lambda: decode_into_window(
                        feed,
                        self.window,
                        self.sample_rate_hz,
                        format_hint=format_hint,
                        on_audio=progress.audio_arrived,
                    ),
                    name=f"decode-{self._label}",
                )
            )
            try:
                await self._pump(response, feed, decoding, stats)
                feed.end()
                await decoding
            except StreamDecodeError:
                if format_hint is not None and self.window.samples_since_clear == 0:
                    self._trust_content_type = False
                raise
            finally:
                feed.abort()  # stops the thread promptly, whatever happened
                if not decoding.done():
                    decoding.cancel()

    async def _pump(
        self,
        response: httpx.Response,
        feed: ByteFeed,
        decoding: asyncio.Future[None],
        stats: StreamStats,
    ) -> None:
        async for chunk in response.aiter_raw():
            if decoding.done():
                await decoding  # raises the decoder's error; a clean end needs no more bytes
                return
            feed.put(chunk)
            if stats.may_process():
                stats.bytes_read += len(chunk)
                stats.last_activity = datetime.now(UTC)
                stats.status = "running"
            while feed.buffered_bytes > MAX_UNDECODED_BYTES and not decoding.done():
                await asyncio.sleep(_BACKPRESSURE_PAUSE_S)


def _note_format(stats: StreamStats, headers: httpx.Headers) -> None:
    stats.codec = format_from_content_type(headers.get("content-type"))
    bitrate = headers.get("icy-br", "").split(",", 1)[0].strip()
    stats.bitrate_kbps = int(bitrate) if bitrate.isdigit() else None
