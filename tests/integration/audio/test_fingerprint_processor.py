"""The fingerprint processor in one process: the local radio in, music_log rows out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from fingerv7.catalog import create_catalog_engine
from fingerv7.processing import AssignedStream, StreamStats
from fingerv7.testing.radio import LocalRadio
from fingerv7.worker.processors import build_processor
from fingerv7.worker.processors.fingerprint import FingerprintProcessor
from fingerv7.worker.settings import WorkerSettings
from tests.integration.audio.playlist import add_to_catalog, radio_songs

pytestmark = pytest.mark.integration

SONG_S = 8.0
PLAYLIST = [21, 22, 23]
METADATA = {"cidade": "Recife", "estado": "PE", "regiao": "Nordeste", "segmento": "Pop"}

ProcessorFactory = Callable[[str], FingerprintProcessor]


@pytest.fixture
def catalog_url(tmp_path: Path) -> str:
    """A SQLite catalog of the playlist and two songs the radio never plays."""
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    engine = create_catalog_engine(url)
    add_to_catalog(engine, radio_songs([*PLAYLIST, 98, 99], SONG_S))
    engine.dispose()
    return url


@pytest.fixture
async def make_processor(
    pg_url: str, catalog_url: str, tmp_path: Path
) -> AsyncIterator[ProcessorFactory]:
    """Factory: the processor exactly as `PROCESSOR=fingerprint` builds it; closed afterwards."""
    made: list[FingerprintProcessor] = []
    database = urlsplit(pg_url)

    def make(instance_id: str) -> FingerprintProcessor:
        values: dict[str, Any] = dict(
            INSTANCE_ID=instance_id,
            USE_ORCHESTRATOR=False,
            DISTRIBUTE_LOAD=False,
            PROCESSOR="fingerprint",
            POSTGRES_HOST=database.hostname,
            POSTGRES_PORT=database.port,
            POSTGRES_DB=database.path.lstrip("/"),
            POSTGRES_USER=database.username,
            CATALOG_DATABASE_URL=catalog_url,
            IDENTIFICATION_DURATION=5,
            IDENTIFICATION_INTERVAL=2,
            PLAYLOG_BUFFER_PATH=tmp_path / f"playlog-{instance_id}.sqlite3",
        )
        settings = WorkerSettings(**values)
        processor = build_processor(settings)
        assert isinstance(processor, FingerprintProcessor)
        made.append(processor)
        return processor

    yield make
    for processor in made:
        await processor.aclose()


def music_log(pg_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://")) as db:
        exists = db.execute("SELECT to_regclass('music_log')").fetchone()
        if exists is None or exists[0] is None:
            return []
        return db.execute(
            "SELECT name, artist, song_title, cidade, estado, regiao, segmento, genre, "
            "identified_by FROM music_log ORDER BY date, time, id"
        ).fetchall()


async def eventually(check: Callable[[], object], timeout_s: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_the_playlist_is_logged_in_order_once_each(
    make_processor: ProcessorFactory, pg_url: str
) -> None:
    processor = make_processor("fingerv7-test-001")
    with LocalRadio(radio_songs(PLAYLIST, SONG_S)) as radio:
        stream = AssignedStream(id=7, url=radio.url, name="Rádio Teste", metadata=METADATA)
        stats = StreamStats()
        task = asyncio.create_task(processor.run(stream, stats))
        try:
            # One whole loop, then the first song again, within the duplicate window.
            await eventually(
                lambda: processor.play_log.stats.duplicates >= 1, 40, "Song 21 to come round"
            )
            assert await processor.play_log.wait_until_flushed(5)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    rows = music_log(pg_url)
    assert [row[2] for row in rows] == ["Song 21", "Song 22", "Song 23"]
    assert rows[0] == (
        "Rádio Teste", "Artist 21", "Song 21", "Recife", "PE", "Nordeste", "Pop", "Test",
        "fingerv7-test-001:catalog",
    )  # fmt: skip
    assert stats.identifications >= 6  # each song in several windows, logged once
    assert stats.processed >= stats.identifications
    assert processor.play_log.stats.duplicates == 1  # the second "Song 21", refused by the DB
    assert processor.last_db_write is not None


async def test_nothing_is_committed_without_ownership(
    make_processor: ProcessorFactory, pg_url: str
) -> None:
    processor = make_processor("w-frozen")
    with LocalRadio(radio_songs(PLAYLIST, SONG_S)) as radio:
        stream = AssignedStream(id=8, url=radio.url, name="Rádio Congelada")
        stats = StreamStats(ownership_check=lambda: False)
        task = asyncio.create_task(processor.run(stream, stats))
        try:
            await eventually(lambda: (radio.seconds_on_air() or 0) > 10, 20, "three windows")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert (stats.processed, stats.identifications, stats.bytes_read) == (0, 0, 0)
    assert processor.play_log.stats.recorded == 0
    assert music_log(pg_url) == []
