"""The music_log writer on a real PostgreSQL: new and existing tables, one row per play."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from fingerv7.playlog import MusicLogWriter, Play, PlayLogUnavailable, WriteOutcome
from tests.integration.playlog.conftest import execute, rows

pytestmark = pytest.mark.integration

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
HEARD = datetime(2025, 8, 26, 22, 0, 5, tzinfo=UTC)  # 19:00:05 in São Paulo
WINDOW_S = 900

ORIGINAL_TABLE = """
CREATE TABLE music_log (
    id SERIAL PRIMARY KEY, date DATE, time TIME, name VARCHAR(255), artist VARCHAR(255),
    song_title VARCHAR(255), isrc VARCHAR(50), cidade VARCHAR(100), estado VARCHAR(50),
    regiao VARCHAR(50), segmento VARCHAR(100), label VARCHAR(255), genre VARCHAR(100),
    identified_by VARCHAR(10), created_at TIMESTAMP DEFAULT now()
    {extra}
)
"""


def a_play(seconds: float = 0.0, **changes: object) -> Play:
    fields: dict[str, object] = {
        "stream_id": 1,
        "stream_name": "Rádio Um",
        "artist": "Artista",
        "song_title": "Canção",
        "heard_at": HEARD + timedelta(seconds=seconds),
        "identified_by": "fingerv7-001",
        "isrc": "BRABC2500001",
        "cidade": "São Paulo",
        "estado": "SP",
        "regiao": "Sudeste",
        "segmento": "Pop",
        "label": "Selo",
        "genre": "MPB",
    }
    fields.update(changes)
    return Play(**fields)  # type: ignore[arg-type]


WriterFactory = Callable[..., MusicLogWriter]


@pytest.fixture
async def writer_for() -> AsyncIterator[WriterFactory]:
    """Factory of writers (database URL, window); every one is closed after the test."""
    made: list[MusicLogWriter] = []

    def make(music_db: str, window_s: float = WINDOW_S) -> MusicLogWriter:
        writer = MusicLogWriter(music_db, "music_log", window_s=window_s, zone=SAO_PAULO)
        made.append(writer)
        return writer

    yield make
    for writer in made:
        await writer.aclose()


async def test_creates_the_original_table_and_writes_every_column(
    music_db: str, writer_for: WriterFactory
) -> None:
    writer = writer_for(music_db)
    assert await writer.write(a_play()) is WriteOutcome.INSERTED
    columns = rows(
        music_db,
        "SELECT column_name, data_type, character_maximum_length FROM information_schema.columns "
        "WHERE table_name = 'music_log' ORDER BY ordinal_position",
    )
    assert [c[0] for c in columns] == [
        "id", "date", "time", "name", "artist", "song_title", "isrc", "cidade", "estado",
        "regiao", "segmento", "label", "genre", "identified_by", "created_at",
    ]  # fmt: skip
    assert dict((c[0], c[1]) for c in columns)["time"] == "time without time zone"
    (row,) = rows(
        music_db,
        "SELECT date, time, name, artist, song_title, isrc, cidade, estado, regiao, segmento, "
        "label, genre, identified_by, created_at IS NOT NULL FROM music_log",
    )
    assert row == (
        date(2025, 8, 26), time(19, 0, 5), "Rádio Um", "Artista", "Canção", "BRABC2500001",
        "São Paulo", "SP", "Sudeste", "Pop", "Selo", "MPB", "fingerv7-001", True,
    )  # fmt: skip


async def test_an_existing_original_table_with_a_narrow_identified_by(
    music_db: str, writer_for: WriterFactory
) -> None:
    execute(music_db, ORIGINAL_TABLE.format(extra=""))
    writer = writer_for(music_db)
    long_id = "fingerv7-worker-sao-paulo-017"
    assert await writer.write(a_play(identified_by=long_id)) is WriteOutcome.INSERTED
    assert await writer.write(a_play(stream_name="Rádio Dois", identified_by="w2")) == "inserted"
    # The tail of the id is kept: that is where instance ids differ from each other.
    assert sorted(r[5] for r in rows(music_db)) == ["-paulo-017", "w2"]
    width = rows(
        music_db,
        "SELECT character_maximum_length FROM information_schema.columns "
        "WHERE table_name = 'music_log' AND column_name = 'identified_by'",
    )
    assert width == [(10,)]  # the existing table is left as it was


async def test_an_existing_unique_constraint_is_respected(
    music_db: str, writer_for: WriterFactory
) -> None:
    execute(
        music_db, ORIGINAL_TABLE.format(extra=", UNIQUE (name, artist, song_title, date, time)")
    )
    writer = writer_for(music_db, window_s=0)  # no window: only the constraint stands guard
    assert await writer.write(a_play()) is WriteOutcome.INSERTED
    assert await writer.write(a_play(seconds=0.4)) is WriteOutcome.DUPLICATE  # same second
    assert await writer.write(a_play(seconds=5)) is WriteOutcome.INSERTED
    assert len(rows(music_db)) == 2


async def test_an_existing_table_without_optional_columns(
    music_db: str, writer_for: WriterFactory
) -> None:
    execute(
        music_db,
        "CREATE TABLE music_log (id SERIAL PRIMARY KEY, date DATE, time TIME, "
        "name TEXT, artist TEXT, song_title TEXT)",
    )
    writer = writer_for(music_db)
    assert await writer.write(a_play(artist="A" * 400)) is WriteOutcome.INSERTED
    assert rows(music_db, "SELECT artist FROM music_log") == [("A" * 400,)]


async def test_the_window_makes_one_play_of_nearby_sightings(
    music_db: str, writer_for: WriterFactory
) -> None:
    writer = writer_for(music_db)
    outcomes = [
        await writer.write(a_play(0)),
        await writer.write(a_play(899)),  # within the window: the same play
        await writer.write(a_play(-600)),  # an older sighting arriving late: still the same
        await writer.write(a_play(0, stream_name="Rádio Dois")),  # another stream: its own
        await writer.write(a_play(0, song_title="Outra")),  # another song: its own
        await writer.write(a_play(900)),  # a whole window after the first: a new play
    ]
    assert [str(o) for o in outcomes] == [
        "inserted", "duplicate", "duplicate", "inserted", "inserted", "inserted",
    ]  # fmt: skip
    assert len(rows(music_db)) == 4


async def test_the_window_spans_midnight(music_db: str, writer_for: WriterFactory) -> None:
    midnight_sp = datetime(2025, 8, 27, 3, 0, 0, tzinfo=UTC)  # 00:00 in São Paulo
    writer = writer_for(music_db)
    first = await writer.write(a_play(heard_at=midnight_sp - timedelta(seconds=100)))
    second = await writer.write(a_play(heard_at=midnight_sp + timedelta(seconds=100)))
    assert (first, second) == (WriteOutcome.INSERTED, WriteOutcome.DUPLICATE)


async def test_concurrent_writers_insert_a_play_once(
    music_db: str, writer_for: WriterFactory
) -> None:
    """Ten connections (think: instances during a handoff, and retries) race on one play."""
    writers = [writer_for(music_db) for _ in range(10)]
    for index, writer in enumerate(writers):  # connected, table known: the race is the write
        await writer.write(a_play(stream_name=f"warm-up {index}"))
    for _ in range(5):
        song = f"Song raced {_}"
        outcomes = await asyncio.gather(
            *(
                writer.write(a_play(seconds=index * 2, song_title=song))
                for index, writer in enumerate(writers)
            )
        )
        assert sorted(map(str, outcomes)) == ["duplicate"] * 9 + ["inserted"]
    assert len(rows(music_db)) == 10 + 5


async def test_concurrent_writers_create_the_table_once(
    music_db: str, writer_for: WriterFactory
) -> None:
    writers = [writer_for(music_db) for _ in range(5)]
    outcomes = await asyncio.gather(
        *(writer.write(a_play(stream_name=f"R{i}")) for i, writer in enumerate(writers))
    )
    assert set(outcomes) == {WriteOutcome.INSERTED} and len(rows(music_db)) == 5


async def test_a_retry_after_a_lost_answer_is_a_duplicate(
    music_db: str, writer_for: WriterFactory
) -> None:
    """The first attempt committed but its answer never arrived; the retry must not insert."""
    first, retry = writer_for(music_db), writer_for(music_db)
    assert await first.write(a_play()) is WriteOutcome.INSERTED
    assert await retry.write(a_play(seconds=1)) is WriteOutcome.DUPLICATE
    assert len(rows(music_db)) == 1


async def test_an_unreachable_database_is_reported_as_unavailable(
    music_db: str, writer_for: WriterFactory
) -> None:
    writer = writer_for("postgresql://postgres@127.0.0.1:1/none")
    with pytest.raises(PlayLogUnavailable):
        await writer.write(a_play())


async def test_a_table_without_the_play_columns_waits_for_the_operator(
    music_db: str, writer_for: WriterFactory
) -> None:
    execute(music_db, "CREATE TABLE music_log (id SERIAL PRIMARY KEY, date DATE, title TEXT)")
    writer = writer_for(music_db)
    with pytest.raises(PlayLogUnavailable, match="no column"):
        await writer.write(a_play())
