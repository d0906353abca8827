"""An HLS stream through the fingerprint processor: the same plays as any other stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from fingerv7.processing import AssignedStream, StreamStats
from fingerv7.testing.hls import LocalHlsStation
from fingerv7.worker.processors.fingerprint import FingerprintProcessor
from tests.integration.audio.playlist import radio_songs
from tests.integration.audio.test_fingerprint_processor import eventually, music_log
from tests.integration.audio.test_learning_catalog import catalog_url, make_processor

pytestmark = pytest.mark.integration
__all__ = ["catalog_url", "make_processor"]  # fixtures: the catalog knows only Song 41


async def test_an_hls_station_is_logged_like_any_other(
    make_processor: Callable[..., FingerprintProcessor], pg_url: str, tmp_path: Path
) -> None:
    processor = make_processor("w-hls")
    with LocalHlsStation(radio_songs([41, 42], 8.0), tmp_path, segment_format="aac") as station:
        stream = AssignedStream(id=9, url=station.url, name="Rádio HLS")
        stats = StreamStats()
        task = asyncio.create_task(processor.run(stream, stats))
        try:
            await eventually(lambda: processor.play_log.stats.recorded >= 1, 20, "Song 41")
            assert await processor.play_log.wait_until_flushed(5)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert [(row[0], row[2], row[8]) for row in music_log(pg_url)] == [
        ("Rádio HLS", "Song 41", "w-hls:catalog")
    ]
    assert stats.errors == 0 and stats.bytes_read > 0
