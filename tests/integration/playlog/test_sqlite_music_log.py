"""The embedded music_log (MUSIC_LOG_PATH): one row per play, readable by the orchestrator."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fingerv7.playlog import Play, SqliteMusicLogWriter, WriteOutcome
from fingerv7.storage.database import create_engine
from fingerv7.storage.recent_plays import recent_plays

HEARD = datetime(2026, 12, 2, 15, 0, 0, tzinfo=UTC)


def play(title: str, minutes: float = 0, stream: str = "Rádio Um") -> Play:
    return Play(
        stream_id=1,
        stream_name=stream,
        artist="Artist",
        song_title=title,
        heard_at=HEARD + timedelta(minutes=minutes),
        identified_by="demo-worker-1",
        cidade="Recife",
    )


async def test_one_row_per_play_within_the_window(tmp_path: Path) -> None:
    path = tmp_path / "fingerv7.db"
    writers = [
        SqliteMusicLogWriter(path, "music_log", window_s=900, zone=ZoneInfo("America/Recife"))
        for _ in range(2)
    ]
    # Two writers (two workers during a handoff) hear the same play at once: one row.
    outcomes = await asyncio.gather(*(w.write(play("Song 1")) for w in writers))
    assert sorted(outcomes) == [WriteOutcome.DUPLICATE, WriteOutcome.INSERTED]
    assert await writers[0].write(play("Song 1", minutes=10)) is WriteOutcome.DUPLICATE
    assert await writers[0].write(play("Song 1", minutes=16)) is WriteOutcome.INSERTED
    assert await writers[1].write(play("Song 1", stream="Rádio Dois")) is WriteOutcome.INSERTED
    assert await writers[1].write(play("Song 2", minutes=1)) is WriteOutcome.INSERTED

    engine = create_engine(f"sqlite:///{path}")
    try:
        rows = await recent_plays(engine, "music_log", 10)
    finally:
        await engine.dispose()
    assert rows is not None
    assert [(r["name"], r["song_title"], r["time"]) for r in rows] == [
        ("Rádio Um", "Song 2", "12:01:00"),
        ("Rádio Dois", "Song 1", "12:00:00"),
        ("Rádio Um", "Song 1", "12:16:00"),
        ("Rádio Um", "Song 1", "12:00:00"),
    ]
    assert rows[0]["identified_by"] == "demo-worker-1" and rows[0]["cidade"] == "Recife"
