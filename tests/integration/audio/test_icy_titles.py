"""ICY titles from a local Icecast-style station: audio intact, titles logged as `icy`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from fingerv7.processing import AssignedStream, StreamStats
from fingerv7.testing.icy import LocalIcyRadio
from fingerv7.worker.processors.fingerprint import FingerprintProcessor
from tests.integration.audio.playlist import radio_songs
from tests.integration.audio.test_fingerprint_processor import eventually, music_log
from tests.integration.audio.test_learning_catalog import catalog_url, make_processor

pytestmark = pytest.mark.integration
__all__ = ["catalog_url", "make_processor"]  # fixtures: the catalog knows only Song 41

SONG_S = 8.0


async def test_icy_titles_name_what_the_catalog_does_not_know(
    make_processor: Callable[..., FingerprintProcessor], pg_url: str
) -> None:
    processor = make_processor("w-icy", RECOGNIZERS="catalog,icy")
    titles = [None, "Artist 62 - Song 62", "Artist 63 - Song 63"]  # nothing announced for 41
    with LocalIcyRadio(radio_songs([41, 62, 63], SONG_S), metaint=1000, titles=titles) as radio:
        stream = AssignedStream(id=5, url=radio.url, name="Rádio ICY")
        stats = StreamStats()
        task = asyncio.create_task(processor.run(stream, stats))
        try:
            await eventually(lambda: (radio.seconds_on_air() or 0) > 3 * SONG_S, 40, "one loop")
            assert await processor.play_log.wait_until_flushed(5)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    rows = [(row[1], row[2], row[8]) for row in music_log(pg_url)]
    assert rows == [
        ("Artist 41", "Song 41", "w-icy:catalog"),  # the audio decoded intact: the catalog knew it
        ("Artist 62", "Song 62", "w-icy:icy"),
        ("Artist 63", "Song 63", "w-icy:icy"),
    ]
    assert stats.errors == 0
    assert processor.fallback is not None
    assert processor.fallback.metrics()["fallback"]["icy_named"] >= 2
