"""Capture against the local test radio: it decodes, fills the window, reconnects, stops."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest

from fingerv7.audio import CaptureTimeouts, RollingWindow, StreamCapture
from fingerv7.catalog import CatalogIdentifier, create_catalog_engine
from fingerv7.core.fingerprint import FingerprintConfig, MatchConfig
from fingerv7.processing import StreamStats
from fingerv7.testing.radio import LocalRadio, encode_programme
from tests.integration.audio.playlist import add_to_catalog, radio_songs

RATE_HZ = FingerprintConfig().sample_rate_hz
WINDOW_S = 5.0
FAST_RECONNECT = CaptureTimeouts(connect_s=2, read_s=5, reconnect_base_s=0.05, reconnect_max_s=0.2)


@pytest.fixture(scope="module")
def identifier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogIdentifier]:
    """A SQLite catalog of the radio's two songs."""
    engine = create_catalog_engine(f"sqlite:///{tmp_path_factory.mktemp('c') / 'catalog.db'}")
    store = add_to_catalog(engine, radio_songs([11, 12], 8.0))
    yield CatalogIdentifier(store, FingerprintConfig(), MatchConfig())
    engine.dispose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def eventually(check: Callable[[], object], timeout_s: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.02)


def decoding_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("decode-")]


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("audio_format", ["mp3", "aac", "ogg"])
async def test_the_window_fills_with_the_song_on_air(
    audio_format: str, identifier: CatalogIdentifier, http: httpx.AsyncClient
) -> None:
    with LocalRadio(radio_songs([11, 12], 8.0), audio_format=audio_format) as radio:
        window = RollingWindow(round(WINDOW_S * RATE_HZ))
        capture = StreamCapture(radio.url, http, window, RATE_HZ, timeouts=FAST_RECONNECT)
        stats = StreamStats()
        task = asyncio.create_task(capture.run_forever(stats))
        await asyncio.wait_for(capture.progress().wait_for(0, 1), 10)  # connected: cleared
        await asyncio.wait_for(capture.progress().wait_for(1, window.capacity_samples), 10)
        on_air_s = radio.seconds_on_air()
        samples, _ = window.latest()
        await stop(task)
    assert on_air_s is not None and on_air_s < WINDOW_S + 2.0  # real time, small latency
    assert float(np.sqrt(np.mean(samples**2))) > 0.05  # audio, not silence
    result = identifier.identify_samples(samples)
    assert result is not None and result.track.info.title == "Song 11"
    assert stats.status == "running" and stats.bytes_read > 0 and stats.errors == 0


async def test_capture_reconnects_after_the_server_drops_it(http: httpx.AsyncClient) -> None:
    with LocalRadio(radio_songs([11, 12], 8.0)) as radio:
        window = RollingWindow(round(1.0 * RATE_HZ))
        capture = StreamCapture(radio.url, http, window, RATE_HZ, timeouts=FAST_RECONNECT)
        stats = StreamStats()
        task = asyncio.create_task(capture.run_forever(stats))
        await eventually(lambda: window.is_full, 10, "a first full window")
        radio.drop_listeners()
        await eventually(lambda: capture.connections == 2, 10, "a second connection")
        await eventually(lambda: window.generation == 2 and window.is_full, 10, "a refill")
        await stop(task)
        assert radio.connections_opened() == 2
    assert stats.errors == 1 and stats.last_error == "stream ended"
    assert stats.status == "running"


async def test_cancelling_stops_the_decoding_thread_promptly(http: httpx.AsyncClient) -> None:
    with LocalRadio(radio_songs([11], 8.0)) as radio:
        window = RollingWindow(RATE_HZ)
        capture = StreamCapture(radio.url, http, window, RATE_HZ, label="cancel-me")
        task = asyncio.create_task(capture.run_forever(StreamStats()))
        await eventually(lambda: window.samples_since_clear > 0, 10, "audio")
        assert decoding_threads() == ["decode-cancel-me"]
        await stop(task)
        await eventually(lambda: not decoding_threads(), 1.0, "the decoding thread to end")
        await eventually(lambda: radio.listeners() == 0, 2.0, "the connection to close")


async def test_an_unreachable_stream_is_retried_with_backoff(http: httpx.AsyncClient) -> None:
    capture = StreamCapture(
        "http://127.0.0.1:1/radio.mp3",
        http,
        RollingWindow(RATE_HZ),
        RATE_HZ,
        timeouts=FAST_RECONNECT,
    )
    stats = StreamStats()
    task = asyncio.create_task(capture.run_forever(stats))
    await eventually(lambda: stats.errors >= 3, 5, "three failed attempts")
    await stop(task)
    assert stats.status == "reconnecting" and "ConnectError" in (stats.last_error or "")


def serve_once(body: bytes, content_type: str) -> ThreadingHTTPServer:
    """A server answering every GET with `body` (not paced), labelled `content_type`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


async def test_a_wrongly_announced_format_is_probed_instead(
    identifier: CatalogIdentifier, http: httpx.AsyncClient
) -> None:
    mp3, _ = encode_programme(radio_songs([12], 8.0), "mp3", 22050, 64_000)
    server = serve_once(mp3, "audio/aac")  # says AAC, sends MP3
    try:
        window = RollingWindow(round(WINDOW_S * RATE_HZ))
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        capture = StreamCapture(url, http, window, RATE_HZ, timeouts=FAST_RECONNECT)
        stats = StreamStats()
        task = asyncio.create_task(capture.run_forever(stats))
        windows: list[np.ndarray] = []

        def full_window() -> bool:
            samples, _ = window.latest()
            if samples.size == window.capacity_samples:
                windows.append(samples)
            return bool(windows)

        await eventually(full_window, 10, "a full window")
        await stop(task)
    finally:
        server.shutdown()
        server.server_close()
    assert capture.connections >= 2 and stats.errors >= 1  # as AAC it failed; probed, it plays
    result = identifier.identify_samples(windows[0])
    assert result is not None and result.track.info.title == "Song 12"


class _HtmlForever(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body>" + b"not a radio " * 20000 + b"</body></html>")

    def log_message(self, format: str, *args: object) -> None:
        pass


async def test_a_page_that_is_not_audio_is_an_error(http: httpx.AsyncClient) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HtmlForever)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        stats = StreamStats()
        capture = StreamCapture(url, http, RollingWindow(RATE_HZ), RATE_HZ, timeouts=FAST_RECONNECT)
        task = asyncio.create_task(capture.run_forever(stats))
        await eventually(lambda: stats.errors >= 2, 10, "two failed attempts")
        await stop(task)
    finally:
        server.shutdown()
        server.server_close()
    assert (stats.last_error or "").startswith("StreamDecodeError: cannot open the stream")
    assert capture.window.samples_since_clear == 0
