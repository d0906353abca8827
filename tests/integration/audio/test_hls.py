"""HLS capture against a local live HLS station (segments in a folder, served over HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from fingerv7.audio import CaptureTimeouts, RollingWindow
from fingerv7.audio.hls import HlsCapture, create_capture
from fingerv7.catalog import CatalogIdentifier, create_catalog_engine
from fingerv7.core.fingerprint import FingerprintConfig, MatchConfig
from fingerv7.processing import StreamStats
from fingerv7.testing.hls import LocalHlsStation
from tests.integration.audio.playlist import add_to_catalog, radio_songs
from tests.integration.audio.test_capture import eventually, stop

RATE_HZ = FingerprintConfig().sample_rate_hz
WINDOW_S = 4.0
FAST_RECONNECT = CaptureTimeouts(connect_s=2, read_s=5, reconnect_base_s=0.05, reconnect_max_s=0.2)


@pytest.fixture(scope="module")
def identifier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogIdentifier]:
    engine = create_catalog_engine(f"sqlite:///{tmp_path_factory.mktemp('c') / 'catalog.db'}")
    store = add_to_catalog(engine, radio_songs([11, 12], 8.0))
    yield CatalogIdentifier(store, FingerprintConfig(), MatchConfig())
    engine.dispose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def title_in(window: RollingWindow, identifier: CatalogIdentifier) -> str | None:
    samples, _ = window.latest()
    result = identifier.identify_samples(samples)
    return None if result is None else result.track.info.title


@pytest.mark.parametrize("segment_format", ["ts", "aac"])
async def test_a_live_hls_stream_is_captured_and_identified(
    segment_format: str, tmp_path: Path, identifier: CatalogIdentifier, http: httpx.AsyncClient
) -> None:
    songs = radio_songs([11, 12], 8.0)
    with LocalHlsStation(songs, tmp_path, segment_format=segment_format) as station:
        window = RollingWindow(round(WINDOW_S * RATE_HZ))
        capture = create_capture(station.url, http, window, RATE_HZ, timeouts=FAST_RECONNECT)
        assert isinstance(capture, HlsCapture)
        stats = StreamStats()
        task = asyncio.create_task(capture.run_forever(stats))
        await eventually(lambda: title_in(window, identifier) == "Song 11", 10, "Song 11")
        # The playlist is refreshed: the capture follows the live edge into the next song.
        await eventually(lambda: station.live_sequence() >= 14, 15, "the second song on air")
        await eventually(lambda: capture.segments_fetched >= 12, 10, "segments fetched")
        await eventually(lambda: title_in(window, identifier) == "Song 12", 10, "Song 12")
        await stop(task)
    assert station.playlist_requests >= 5  # refreshed, not read once
    assert stats.errors == 0 and stats.status == "running" and stats.bytes_read > 0


async def test_a_multivariant_playlist_is_followed_to_its_media_playlist(
    tmp_path: Path, identifier: CatalogIdentifier, http: httpx.AsyncClient
) -> None:
    with LocalHlsStation(radio_songs([11, 12], 8.0), tmp_path) as station:
        window = RollingWindow(round(WINDOW_S * RATE_HZ))
        capture = create_capture(station.master_url, http, window, RATE_HZ)
        task = asyncio.create_task(capture.run_forever(StreamStats()))
        await eventually(lambda: title_in(window, identifier) == "Song 11", 10, "Song 11")
        # Identification may need only two segments: the playlist must go on being followed.
        await eventually(lambda: station.segment_requests >= 3, 10, "a third segment")
        await stop(task)
    assert station.playlist_requests >= 1


async def test_missing_segments_and_discontinuities_restart_the_decoder(
    tmp_path: Path, identifier: CatalogIdentifier, http: httpx.AsyncClient
) -> None:
    with LocalHlsStation(radio_songs([11, 12], 8.0), tmp_path) as station:
        station.vanish([6, 7])
        station.mark_discontinuity(10)
        window = RollingWindow(round(WINDOW_S * RATE_HZ))
        capture = create_capture(station.url, http, window, RATE_HZ, timeouts=FAST_RECONNECT)
        assert isinstance(capture, HlsCapture)
        stats = StreamStats()
        task = asyncio.create_task(capture.run_forever(stats))
        await eventually(lambda: capture.segments_fetched >= 11, 20, "segments past the splices")
        # Segments 10-15 are seconds 2-8 of the second song: after the discontinuity at 10 the
        # window refills with it alone.
        await eventually(lambda: title_in(window, identifier) == "Song 12", 10, "Song 12")
        await stop(task)
    assert capture.segments_missed == 2 and capture.decoder_restarts == 2  # gap, discontinuity
    assert window.generation == 3  # cleared at connect and at each splice
    assert stats.errors == 0 and capture.connections == 1


async def test_a_failing_playlist_means_reconnecting_with_backoff(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    with LocalHlsStation(radio_songs([11, 12], 8.0), tmp_path) as station:
        window = RollingWindow(round(1.0 * RATE_HZ))
        capture = create_capture(station.url, http, window, RATE_HZ, timeouts=FAST_RECONNECT)
        stats = StreamStats()
        task = asyncio.create_task(capture.run_forever(stats))
        await eventually(lambda: window.is_full, 10, "a first full window")
        station.fail_playlist(3)
        await eventually(lambda: capture.connections == 2, 10, "a second session")
        await eventually(lambda: window.generation == 2 and window.is_full, 10, "a refill")
        await stop(task)
    assert stats.errors == 3  # the failed refresh, then two failed reconnections
    assert stats.last_error is not None and "503" in stats.last_error
    assert stats.status == "running"
