"""Nothing is lost: plays wait in the local buffer while PostgreSQL is away, and are written in
order, once each, when it returns or when the worker restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from fingerv7.playlog import MusicLogWriter, Play, PlayBuffer, PlayLog, WriteOutcome
from tests.integration.playlog.conftest import rows, through
from tests.integration.playlog.tcp_proxy import SwitchableProxy

pytestmark = pytest.mark.integration

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
START = datetime(2025, 8, 26, 22, 0, tzinfo=UTC)
ORDERED = "SELECT song_title FROM music_log ORDER BY id"


def play(song: str, seconds: float, stream: str = "Rádio Um") -> Play:
    return Play(
        stream_id=1,
        stream_name=stream,
        artist="Artista",
        song_title=song,
        heard_at=START + timedelta(seconds=seconds),
        identified_by="w1",
    )


PlayLogFactory = Callable[[str, Path], PlayLog]


@pytest.fixture
async def play_log_for() -> AsyncIterator[PlayLogFactory]:
    """Factory: a started PlayLog on (database URL, buffer file); closed after the test."""
    made: list[PlayLog] = []

    def make(database_url: str, buffer_path: Path) -> PlayLog:
        writer = MusicLogWriter(
            database_url, "music_log", window_s=900, zone=SAO_PAULO, connect_timeout_s=2
        )
        log = PlayLog(PlayBuffer(buffer_path), writer, retry_base_s=0.05, retry_max_s=0.5)
        log.start()
        made.append(log)
        return log

    yield make
    for log in made:
        await log.aclose(drain_timeout_s=0)


async def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_plays_wait_out_an_outage_and_arrive_in_order_once(
    music_db: str, proxy: SwitchableProxy, play_log_for: PlayLogFactory, tmp_path: Path
) -> None:
    log = play_log_for(through(proxy, music_db), tmp_path / "buffer.sqlite3")
    await log.record(play("before", 0))
    assert await log.wait_until_flushed(10)

    await proxy.switch_off()  # open connection cut, new ones refused
    sightings = [
        play("one", 60),
        play("two", 120),
        play("one", 130),  # the same play as "one": must not become a second row
        play("three", 180),
        play("two", 2000),  # far outside the window: a new play
    ]
    for sighting in sightings:
        await log.record(sighting)
    await wait_for(lambda: log.stats.write_failures >= 2, 10, "failed attempts during the outage")
    assert log.buffer.pending_count() == len(sightings)
    assert rows(music_db, ORDERED) == [("before",)]

    await proxy.switch_on()
    assert await log.wait_until_flushed(15)
    assert rows(music_db, ORDERED) == [("before",), ("one",), ("two",), ("three",), ("two",)]
    assert (log.stats.inserted, log.stats.duplicates) == (5, 1)
    assert log.buffer.pending_count() == 0 and not log.stats.unavailable


async def test_a_killed_database_connection_is_replaced(
    music_db: str, play_log_for: PlayLogFactory, tmp_path: Path
) -> None:
    log = play_log_for(music_db, tmp_path / "buffer.sqlite3")
    await log.record(play("first", 0))
    assert await log.wait_until_flushed(10)
    with psycopg.connect(music_db, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'fingerv7-playlog' AND datname = current_database()"
        ).fetchone()
    assert killed == (1,)
    await log.record(play("second", 60))
    await log.record(play("third", 120))
    assert await log.wait_until_flushed(10)
    assert rows(music_db, ORDERED) == [("first",), ("second",), ("third",)]
    assert log.stats.write_failures >= 1  # the dead connection was noticed, then replaced


async def test_a_restart_replays_the_buffer_without_duplicates(
    music_db: str, proxy: SwitchableProxy, play_log_for: PlayLogFactory, tmp_path: Path
) -> None:
    buffer_path = tmp_path / "buffer.sqlite3"
    await proxy.switch_off()
    first_run = play_log_for(through(proxy, music_db), buffer_path)
    for index, song in enumerate(["a", "b", "c", "d"]):
        await first_run.record(play(song, index * 60))
    await wait_for(lambda: first_run.stats.write_failures >= 1, 10, "a failed attempt")
    await first_run.aclose(drain_timeout_s=0)  # the worker stops with 4 plays unwritten

    # As if "b" had been committed just before the crash, but not yet removed from the buffer.
    direct = MusicLogWriter(music_db, "music_log", window_s=900, zone=SAO_PAULO)
    assert await direct.write(play("b", 60)) is WriteOutcome.INSERTED
    await direct.aclose()

    second_run = play_log_for(music_db, buffer_path)  # the restarted worker, PostgreSQL back
    assert await second_run.wait_until_flushed(15)
    assert rows(music_db, ORDERED) == [("b",), ("a",), ("c",), ("d",)]
    assert (second_run.stats.inserted, second_run.stats.duplicates) == (3, 1)
    assert second_run.buffer.pending_count() == 0


async def test_a_play_the_table_refuses_is_set_aside_and_the_queue_goes_on(
    music_db: str, play_log_for: PlayLogFactory, tmp_path: Path
) -> None:
    with psycopg.connect(music_db, autocommit=True) as admin:
        admin.execute(
            "CREATE TABLE music_log (id SERIAL PRIMARY KEY, date DATE, time TIME, name TEXT, "
            "artist TEXT, song_title TEXT CHECK (song_title <> 'forbidden'))"
        )
    log = play_log_for(music_db, tmp_path / "buffer.sqlite3")
    for index, song in enumerate(["fine", "forbidden", "after"]):
        await log.record(play(song, index * 60))
    assert await log.wait_until_flushed(10)
    assert rows(music_db, ORDERED) == [("fine",), ("after",)]
    ((kept, reason),) = log.buffer.rejected()
    assert kept.song_title == "forbidden" and "CheckViolation" in reason
    assert log.stats.rejected == 1
