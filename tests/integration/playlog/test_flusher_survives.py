"""The play-log flusher never dies quietly: a bad buffered row is set aside, an outage is said."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fingerv7.playlog import Play, PlayBuffer, PlayLog, SqliteMusicLogWriter
from tests.support.orchestrator import eventually


def play(title: str) -> Play:
    return Play(
        stream_id=1,
        stream_name="Rádio",
        artist="Artist",
        song_title=title,
        heard_at=datetime.now(UTC),
        identified_by="w1",
    )


def logged(path: Path) -> list[str]:
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT song_title FROM music_log ORDER BY id")]


async def test_a_bad_row_is_set_aside_and_the_plays_behind_it_are_written(tmp_path: Path) -> None:
    buffer_path, music = tmp_path / "buffer.sqlite3", tmp_path / "music.db"
    with sqlite3.connect(buffer_path) as raw:  # a row a crash or a bug left unreadable
        PlayBuffer(buffer_path).close()
        raw.execute(
            "INSERT INTO pending_plays (play, buffered_at) VALUES ('{not json', '2026-12-02')"
        )
    writer = SqliteMusicLogWriter(music, "music_log", window_s=900, zone=ZoneInfo("UTC"))
    play_log = PlayLog(PlayBuffer(buffer_path), writer, retry_base_s=0.05, retry_max_s=0.1)
    play_log.start()
    try:
        await play_log.record(play("Song 1"))
        await eventually(lambda: logged(music) == ["Song 1"], what="the play behind the bad row")
        with sqlite3.connect(buffer_path) as raw:
            reasons = [row[0] for row in raw.execute("SELECT reason FROM rejected_plays")]
        assert len(reasons) == 1 and reasons[0].startswith("unreadable buffered play")
        assert play_log.problem() is None
    finally:
        await play_log.aclose()


async def test_an_outage_is_a_problem_until_music_log_is_back(tmp_path: Path) -> None:
    music = tmp_path / "not-yet" / "music.db"  # its folder is missing: the database is away
    writer = SqliteMusicLogWriter(music, "music_log", window_s=900, zone=ZoneInfo("UTC"))
    play_log = PlayLog(
        PlayBuffer(tmp_path / "buffer.sqlite3"), writer, retry_base_s=0.05, retry_max_s=0.1
    )
    play_log.start()
    try:
        await play_log.record(play("Song 1"))
        problem = await eventually(play_log.problem, what="the outage reported")
        assert "music_log unavailable" in problem and "no write yet" in problem
        backlog = play_log.backlog()
        assert backlog["plays_buffered"] == 1 and backlog["unavailable"] is True
        assert backlog["last_write_at"] is None
        music.parent.mkdir()
        await eventually(lambda: logged(music) == ["Song 1"], what="the buffered play written")
        await eventually(lambda: play_log.problem() is None, what="the outage over")
        backlog = play_log.backlog()
        assert backlog["plays_buffered"] == 0 and backlog["last_write_at"] is not None
    finally:
        await play_log.aclose()


async def test_stopping_during_an_outage_says_how_many_plays_stay_buffered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = SqliteMusicLogWriter(
        tmp_path / "missing" / "music.db", "music_log", window_s=900, zone=ZoneInfo("UTC")
    )
    play_log = PlayLog(
        PlayBuffer(tmp_path / "buffer.sqlite3"), writer, retry_base_s=0.05, retry_max_s=0.1
    )
    play_log.start()
    await play_log.record(play("Song 1"))
    await play_log.record(play("Song 2"))
    await eventually(play_log.problem, what="the outage noticed")
    with caplog.at_level(logging.WARNING, logger="fingerv7.playlog"):
        await play_log.aclose()
    assert any("stopping with 2 play(s)" in r.getMessage() for r in caplog.records)
