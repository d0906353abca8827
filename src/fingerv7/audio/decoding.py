"""The thread side of capture: bytes in (from the event loop), mono PCM out (into a window).

PyAV calls block, so each connection decodes on a dedicated thread. The thread reads the
stream's bytes from a :class:`ByteFeed` that the event loop fills from its HTTP response; PyAV
sees it as a non-seekable file. Stopping is therefore prompt and needs no network timeout:
:meth:`ByteFeed.abort` makes the next read return end-of-file, PyAV stops demuxing, and the
thread ends after at most one packet's decoding (well under a millisecond of audio work).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import TypeVar

import av
import numpy as np

from fingerv7.audio.window import RollingWindow

T = TypeVar("T")

# Just enough probing to recognise MP3/AAC/Ogg framing; the default (5 MB, 5 s) would make the
# first identification of a live stream wait for several seconds of stream before decoding.
_PROBE_OPTIONS = {"probesize": "32768", "analyzeduration": "1000000"}
# Corrupt frames happen on the radio; this many in a row means it is not audio we can decode.
MAX_CONSECUTIVE_DECODE_ERRORS = 50


class StreamDecodeError(Exception):
    """The bytes could not be opened or decoded as audio."""


class ByteFeed:
    """A blocking, non-seekable file for PyAV, fed with chunks by another thread (or the loop)."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._condition = threading.Condition()
        self._buffered_bytes = 0
        self._ended = False  # no more data will come: readers drain, then see EOF
        self._aborted = False  # stop now: readers see EOF at once

    @property
    def buffered_bytes(self) -> int:
        with self._condition:
            return self._buffered_bytes

    @property
    def aborted(self) -> bool:
        with self._condition:
            return self._aborted

    def put(self, chunk: bytes) -> None:
        with self._condition:
            if self._ended or self._aborted:
                return
            self._chunks.append(chunk)
            self._buffered_bytes += len(chunk)
            self._condition.notify_all()

    def end(self) -> None:
        """The stream ended: what is buffered is still read, then end-of-file."""
        with self._condition:
            self._ended = True
            self._condition.notify_all()

    def abort(self) -> None:
        """Stop the reader now; buffered bytes are discarded."""
        with self._condition:
            self._aborted = True
            self._chunks.clear()
            self._buffered_bytes = 0
            self._condition.notify_all()

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes; blocks until some arrive; b"" means end of stream."""
        with self._condition:
            while not self._chunks and not (self._ended or self._aborted):
                self._condition.wait()
            if self._aborted or not self._chunks:
                return b""
            chunk = self._chunks.popleft()
            if 0 <= size < len(chunk):
                self._chunks.appendleft(chunk[size:])
                chunk = chunk[:size]
            self._buffered_bytes -= len(chunk)
            return chunk


def decode_into_window(
    feed: ByteFeed,
    window: RollingWindow,
    sample_rate_hz: int,
    *,
    format_hint: str | None,
    on_audio: Callable[[], None],
) -> None:
    """Decode the feed's first audio stream into `window` (mono, `sample_rate_hz`) until EOF.

    Runs on a decoding thread. Raises StreamDecodeError when the bytes are not decodable audio;
    returns normally at end of stream or after :meth:`ByteFeed.abort`.
    """
    container = _open(feed, format_hint)
    if container is None:
        return
    with container:
        if not container.streams.audio:
            raise StreamDecodeError("the stream has no audio")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate_hz)
        consecutive_errors = 0
        for packet in container.demux(stream):
            if feed.aborted:
                return
            try:
                frames = packet.decode()
            except av.error.FFmpegError as error:
                consecutive_errors += 1
                if consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS:
                    raise StreamDecodeError(f"undecodable audio: {error}") from error
                continue
            consecutive_errors = 0
            for frame in frames:
                for resampled in resampler.resample(frame):
                    window.append(np.asarray(resampled.to_ndarray(), dtype=np.float32))
                on_audio()


def _open(feed: ByteFeed, format_hint: str | None) -> av.container.InputContainer | None:
    """Open the feed as a container; None when it was aborted meanwhile."""
    try:
        return av.open(feed, mode="r", format=format_hint, container_options=_PROBE_OPTIONS)
    except (av.error.FFmpegError, ValueError) as error:
        if feed.aborted:
            return None
        raise StreamDecodeError(f"cannot open the stream as audio: {error}") from error


async def run_on_own_thread(function: Callable[[], T], *, name: str) -> T:
    """Run a blocking call on a new daemon thread and await its result.

    Not `asyncio.to_thread`: the default executor has a few dozen threads, and a worker decodes
    one stream per thread for as long as the stream plays.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def body() -> None:
        try:
            result = function()
        except BaseException as error:  # handed to the awaiting task, whatever it is
            caught = error
            _call_soon(loop, lambda: deliver(lambda: future.set_exception(caught)))
        else:
            _call_soon(loop, lambda: deliver(lambda: future.set_result(result)))

    threading.Thread(target=body, name=name, daemon=True).start()
    return await future


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:
        pass  # the loop has closed: nobody is waiting any more
