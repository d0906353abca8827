"""SqlStreamSource reads both shapes of streams table found in the wild, with no configuration."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from fingerv7.storage.stream_source import SourceStream, SqlStreamSource

from .conftest import SourceDatabase

ORIGINAL_COLUMNS = (
    "url TEXT, name TEXT, sheet TEXT, cidade TEXT, estado TEXT, regiao TEXT, segmento TEXT, "
    '"index" TEXT'
)
ORIGINAL_INSERT = (
    'INSERT INTO streams (url, name, sheet, cidade, estado, regiao, segmento, "index") VALUES '
)


def manual_shape_ddl(dialect: str) -> str:
    if dialect == "postgresql":
        return (
            "CREATE TABLE streams (id SERIAL PRIMARY KEY, url TEXT NOT NULL, name TEXT NOT NULL, "
            "status VARCHAR(32) DEFAULT 'pending', assigned_to VARCHAR(64), "
            "last_check TIMESTAMPTZ, created_at TIMESTAMPTZ DEFAULT now(), "
            "updated_at TIMESTAMPTZ DEFAULT now(), metadata JSONB, active BOOLEAN DEFAULT true)"
        )
    return (
        "CREATE TABLE streams (id INTEGER PRIMARY KEY, url TEXT NOT NULL, name TEXT NOT NULL, "
        "status VARCHAR(32) DEFAULT 'pending', assigned_to VARCHAR(64), last_check TIMESTAMP, "
        "created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, "
        "updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, metadata TEXT, active BOOLEAN DEFAULT 1)"
    )


async def fill_manual_shape(database: SourceDatabase) -> None:
    true, false = ("true", "false") if database.dialect == "postgresql" else ("1", "0")
    await database.run(
        manual_shape_ddl(database.dialect),
        "INSERT INTO streams (id, url, name, status, assigned_to, metadata, active) VALUES "
        f"(3, 'https://r3.example/live', 'Radio 3', 'active', 'worker-1', "
        f"""'{{"regiao": "Sul", "bitrate": 128}}', {true}), """
        f"(1, 'https://r1.example/live', 'Radio 1', 'pending', NULL, NULL, {true}), "
        f"""(2, 'https://r2.example/live', 'Radio 2', 'pending', NULL, '{{"region": "Norte"}}', """
        f"{false}), "
        f"(4, '', 'No url', 'pending', NULL, NULL, {true}), "
        f"""(5, ' https://r5.example/live ', '', NULL, NULL, '{{"region": "Norte"}}', NULL)""",
    )


async def test_manual_shape_gives_active_streams_by_id_with_json_metadata(
    source_database: SourceDatabase,
) -> None:
    await fill_manual_shape(source_database)

    streams = await SqlStreamSource(source_database.engine).load()

    assert streams == [
        SourceStream(id=1, url="https://r1.example/live", name="Radio 1", metadata={}),
        SourceStream(
            id=3,
            url="https://r3.example/live",
            name="Radio 3",
            metadata={"regiao": "Sul", "bitrate": 128},
        ),
        # NULL active counts as active; a blank name falls back to the number; url is trimmed.
        SourceStream(
            id=5, url="https://r5.example/live", name="stream 5", metadata={"region": "Norte"}
        ),
    ]
    assert [stream.region for stream in streams] == [None, "Sul", "Norte"]


async def test_include_inactive_lists_deactivated_streams_too(
    source_database: SourceDatabase,
) -> None:
    await fill_manual_shape(source_database)

    streams = await SqlStreamSource(source_database.engine).load(include_inactive=True)

    assert [(stream.id, stream.active) for stream in streams] == [
        (1, True),
        (2, False),
        (3, True),
        (5, True),
    ]


async def test_original_shape_numbers_streams_by_text_index_and_skips_junk(
    source_database: SourceDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    await source_database.run(
        f"CREATE TABLE streams ({ORIGINAL_COLUMNS})",
        ORIGINAL_INSERT
        + "('https://a.example/0', 'Rádio A', 'radios', 'São Paulo', 'SP', 'Sudeste', 'Pop', '0'), "
        "('https://b.example/12', 'Radio B', 'radios', 'Recife', 'PE', 'Nordeste', 'News', '12'), "
        "('https://c.example/7', 'Radio C', 'radios', 'Curitiba', 'PR', 'Sul', 'Rock', ' 7 '), "
        "('https://junk.example/', 'Junk', 'radios', NULL, NULL, NULL, NULL, 'abc'), "
        "('https://null.example/', 'No index', 'radios', NULL, NULL, NULL, NULL, NULL), "
        "('', 'No url', 'radios', NULL, NULL, NULL, NULL, '20'), "
        "('https://dup.example/12', 'Second 12', 'radios', NULL, NULL, NULL, NULL, '12')",
    )
    source = SqlStreamSource(source_database.engine)

    with caplog.at_level(logging.WARNING, logger="fingerv7.storage.stream_source"):
        streams = await source.load()

    assert [(stream.id, stream.name) for stream in streams] == [
        (0, "Rádio A"),
        (7, "Radio C"),
        (12, "Radio B"),
    ]
    assert streams[0].metadata == {
        "sheet": "radios",
        "cidade": "São Paulo",
        "estado": "SP",
        "regiao": "Sudeste",
        "segmento": "Pop",
    }
    assert streams[0].region == "Sudeste"
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2, warnings
    skipped = next(message for message in warnings if "skipped" in message)
    assert "skipped 3 row(s)" in skipped
    assert "'abc'" in skipped
    duplicate = next(message for message in warnings if "repeat" in message)
    assert "ids 12" in duplicate

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fingerv7.storage.stream_source"):
        assert await source.load() == streams
    assert caplog.records == []  # the same problems are not repeated every sync


async def test_original_shape_with_id_column_still_numbers_by_index(
    source_database: SourceDatabase,
) -> None:
    id_column = (
        "id SERIAL PRIMARY KEY"
        if source_database.dialect == "postgresql"
        else ("id INTEGER PRIMARY KEY AUTOINCREMENT")
    )
    await source_database.run(
        f"CREATE TABLE streams ({id_column}, {ORIGINAL_COLUMNS}, assigned_server INTEGER)",
        ORIGINAL_INSERT
        + "('https://a.example/40', 'A', 's', 'Natal', 'RN', 'Nordeste', 'Pop', '40'), "
        "('https://a.example/41', 'B', 's', 'Belém', 'PA', 'Norte', 'Pop', '41')",
        "UPDATE streams SET assigned_server = 2",
    )

    streams = await SqlStreamSource(source_database.engine).load()

    assert [stream.id for stream in streams] == [40, 41]
    assert "id" not in streams[0].metadata
    assert "assigned_server" not in streams[0].metadata
    assert streams[1].region == "Norte"


async def test_uppercase_column_names_are_recognised(source_database: SourceDatabase) -> None:
    await source_database.run(
        'CREATE TABLE streams ("ID" INTEGER, "URL" TEXT, "Name" TEXT, "Regiao" TEXT)',
        "INSERT INTO streams VALUES (9, 'https://x.example/', 'X', 'Sul')",
    )

    streams = await SqlStreamSource(source_database.engine).load()

    assert streams == [
        SourceStream(id=9, url="https://x.example/", name="X", metadata={"Regiao": "Sul"})
    ]


@pytest.mark.integration
async def test_jsonb_metadata_is_merged_under_the_columns(
    make_pg_database: Callable[[], str],
) -> None:
    engine = create_async_engine(make_pg_database())
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("CREATE SCHEMA radio")
            await connection.exec_driver_sql(
                f"CREATE TABLE radio.streams ({ORIGINAL_COLUMNS}, metadata JSONB, active TEXT)"
            )
            await connection.exec_driver_sql(
                'INSERT INTO radio.streams (url, name, regiao, "index", metadata, active) VALUES '
                "('https://m.example/', 'M', 'Sul', '3', "
                """'{"regiao": "old", "genre": "rock"}', 'sim'), """
                """('https://n.example/', 'N', NULL, '4', '{"regiao": "Norte"}', 'não'), """
                """('https://o.example/', 'O', NULL, '5', '{"regiao": "Norte"}', 'yes')"""
            )
        streams = await SqlStreamSource(engine, "streams", schema="radio").load()
    finally:
        await engine.dispose()

    assert [stream.id for stream in streams] == [3, 5]
    assert streams[0].metadata["genre"] == "rock"
    assert streams[0].region == "Sul"  # the column wins over the JSON key
    assert streams[1].region == "Norte"  # a NULL column does not hide the JSON value
