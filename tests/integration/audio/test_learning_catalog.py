"""The recognizer chain and the learning catalog, end to end in two workers' processors.

Worker A monitors a station whose first song is in the catalog and whose next two are known
only to the (local, fake) recognition service; worker B, with no fallback at all, monitors
another station that plays those two songs later. A names them through the service and learns
them; B then names them from the catalog, without a restart; A's second loop costs no calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from fingerv7.catalog import CatalogStore, create_catalog_engine
from fingerv7.catalog.learning import LearningCatalog
from fingerv7.core.fingerprint import FingerprintConfig
from fingerv7.processing import AssignedStream, StreamStats
from fingerv7.testing.fake_recognition import FakeRecognitionService, KnownSong
from fingerv7.testing.radio import LocalRadio
from fingerv7.worker.processors import build_processor
from fingerv7.worker.processors.fingerprint import FingerprintProcessor
from fingerv7.worker.settings import WorkerSettings
from tests.integration.audio.playlist import add_to_catalog, radio_songs
from tests.integration.audio.test_fingerprint_processor import eventually, music_log

pytestmark = pytest.mark.integration

SONG_S = 8.0
FIELDS = (
    "title=result.title,artist=result.artist,isrc=result.isrc,label=result.label,"
    "genre=result.genre,offset_s=result.offset_s,duration_s=result.duration_s"
)


@pytest.fixture
def catalog_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    engine = create_catalog_engine(url)
    add_to_catalog(engine, radio_songs([41], SONG_S))  # the only reference
    engine.dispose()
    return url


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeRecognitionService]:
    known = [
        KnownSong(song, isrc=f"BRABC2600{seed}", label="Selo", genre="Rock")
        for seed, song in zip([41, 42, 43], radio_songs([41, 42, 43], SONG_S), strict=True)
    ]
    with FakeRecognitionService(known, tmp_path, limit=10, per_s=60.0) as service:
        yield service


@pytest.fixture
async def make_processor(
    pg_url: str, catalog_url: str, tmp_path: Path
) -> AsyncIterator[Callable[..., FingerprintProcessor]]:
    made: list[FingerprintProcessor] = []
    database = urlsplit(pg_url)

    def make(instance_id: str, **extra: Any) -> FingerprintProcessor:
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
            LEARNED_REFRESH_SECONDS=0.5,
            PLAYLOG_BUFFER_PATH=tmp_path / f"playlog-{instance_id}.sqlite3",
        )
        processor = build_processor(WorkerSettings(**(values | extra)))
        assert isinstance(processor, FingerprintProcessor)
        made.append(processor)
        return processor

    yield make
    for processor in made:
        await processor.aclose()


async def test_fallback_names_are_learned_and_reused_by_every_worker(
    make_processor: Callable[..., FingerprintProcessor],
    fake: FakeRecognitionService,
    pg_url: str,
    catalog_url: str,
) -> None:
    worker_a = make_processor(
        "w-a",
        RECOGNIZERS="catalog,http",
        RECOGNIZER_HTTP_URL=fake.url,
        RECOGNIZER_HTTP_FIELDS=FIELDS,
        RECOGNIZER_REQUESTS_PER_MINUTE=20,
    )
    worker_b = make_processor("w-b")  # RECOGNIZERS=catalog: it can only learn from A
    with (
        LocalRadio(radio_songs([41, 42, 43], SONG_S)) as station_a,
        LocalRadio(radio_songs([98, 99, 42, 43], SONG_S), loop=False) as station_b,
    ):
        stream_a = AssignedStream(id=1, url=station_a.url, name="Rádio A")
        stream_b = AssignedStream(id=2, url=station_b.url, name="Rádio B")
        tasks = [
            asyncio.create_task(worker_a.run(stream_a, StreamStats())),
            asyncio.create_task(worker_b.run(stream_b, StreamStats())),
        ]
        try:
            # Loop 1 and its last windows (a loaded machine identifies them late); loop 2 starts
            # with Song 41, the reference, which needs no call either way.
            await eventually(
                lambda: (station_a.seconds_on_air() or 0) > 3 * SONG_S + 5, 45, "loop 1"
            )
            assert worker_a.fallback is not None
            calls_after_first_loop = worker_a.fallback.metrics()["http"]["calls"]
            await eventually(
                lambda: (station_a.seconds_on_air() or 0) > 5.5 * SONG_S, 30, "most of loop 2"
            )
            await eventually(
                lambda: (station_b.seconds_on_air() or 0) > 4 * SONG_S, 30, "B's programme"
            )
            assert await worker_a.play_log.wait_until_flushed(5)
            assert await worker_b.play_log.wait_until_flushed(5)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    rows = {(row[0], row[2], row[8]) for row in music_log(pg_url)}
    assert rows == {
        ("Rádio A", "Song 41", "w-a:catalog"),
        ("Rádio A", "Song 42", "w-a:http"),
        ("Rádio A", "Song 43", "w-a:http"),
        ("Rádio B", "Song 42", "w-b:catalog"),  # learned from A, picked up without a restart
        ("Rádio B", "Song 43", "w-b:catalog"),
    }
    metrics = worker_a.fallback.metrics()
    assert metrics["http"]["calls"] == calls_after_first_loop  # loop 2: the catalog knew them
    assert metrics["http"]["named"] == 2 and fake.refused == 0
    assert metrics["fallback"]["learned_fragments"] >= 2
    engine = create_catalog_engine(catalog_url)
    try:
        learned = LearningCatalog(CatalogStore(engine), FingerprintConfig()).songs()
    finally:
        engine.dispose()
    assert [(song.key, song.info.title, song.sources) for song in learned] == [
        ("isrc:BRABC260042", "Song 42", ("http",)),
        ("isrc:BRABC260043", "Song 43", ("http",)),
    ]
