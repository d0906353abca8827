"""Importing CSV/JSON files into the embedded streams table, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, select

from fingerv7.storage.stream_file import StreamFileError, parse_stream_file
from fingerv7.storage.stream_import import StreamImportError, import_streams
from fingerv7.storage.stream_source import SqlStreamSource
from fingerv7.storage.stream_table import define_embedded_streams_table

from .conftest import SourceDatabase

RADIOS_CSV = (
    "URL;Name;index;cidade;regiao;segmento\n"
    "https://a.example/live;Rádio A;0;São Paulo;Sudeste;Pop\n"
    "https://b.example/live;Radio B;5;Recife;Nordeste;\n"
    "\n"
    "https://c.example/live;Radio C;;Curitiba;Sul;Rock\n"
)


async def embedded_table(database: SourceDatabase) -> Table:
    table = define_embedded_streams_table(MetaData())
    async with database.engine.begin() as connection:
        await connection.run_sync(table.metadata.create_all)
    return table


async def table_rows(database: SourceDatabase, table: Table) -> list[tuple[Any, ...]]:
    async with database.engine.connect() as connection:
        result = await connection.execute(
            select(
                table.c.id,
                table.c.url,
                table.c.name,
                table.c.active,
                table.c.metadata,
                table.c.updated_at,
            ).order_by(table.c.id)
        )
        return [tuple(row) for row in result]


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def test_csv_with_semicolons_bom_and_any_case_header(tmp_path: Path) -> None:
    rows = parse_stream_file(write(tmp_path / "radios.csv", RADIOS_CSV, encoding="utf-8-sig"))

    assert [row.position for row in rows] == ["line 2", "line 3", "line 5"]
    assert rows[0].values == {
        "URL": "https://a.example/live",
        "Name": "Rádio A",
        "index": "0",
        "cidade": "São Paulo",
        "regiao": "Sudeste",
        "segmento": "Pop",
    }
    assert "segmento" not in rows[1].values  # empty cells are absent, not ""


def test_windows_1252_csv_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "radios.csv", "url,name\nhttps://x.example/,Rádio Ação\n", "cp1252")

    assert parse_stream_file(path)[0].values["name"] == "Rádio Ação"


def test_csv_header_without_name_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "radios.csv", "url,title\nhttps://x.example/,X\n")

    with pytest.raises(StreamFileError, match="no 'name' column"):
        parse_stream_file(path)


def test_broken_json_names_the_place(tmp_path: Path) -> None:
    path = write(tmp_path / "radios.json", '[{"url": "https://x.example/", "name": "X"},\n  oops]')

    with pytest.raises(StreamFileError, match=r"not valid JSON.*line 2"):
        parse_stream_file(path)


async def test_csv_import_then_reimport_changes_nothing(
    source_database: SourceDatabase, tmp_path: Path
) -> None:
    table = await embedded_table(source_database)
    rows = parse_stream_file(write(tmp_path / "radios.csv", RADIOS_CSV))

    first = await import_streams(source_database.engine, table, rows)
    after_first = await table_rows(source_database, table)
    second = await import_streams(source_database.engine, table, rows)

    assert (first.inserted, first.updated, first.unchanged) == (3, 0, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 3)
    assert await table_rows(source_database, table) == after_first  # updated_at untouched too
    streams = await SqlStreamSource(source_database.engine).load()
    assert [(stream.id, stream.name, stream.region) for stream in streams] == [
        (0, "Rádio A", "Sudeste"),
        (5, "Radio B", "Nordeste"),
        (6, "Radio C", "Sul"),  # no id given: max + 1
    ]
    assert streams[0].metadata == {"cidade": "São Paulo", "regiao": "Sudeste", "segmento": "Pop"}


async def test_rows_without_id_update_the_stream_with_the_same_url(
    source_database: SourceDatabase, tmp_path: Path
) -> None:
    table = await embedded_table(source_database)
    await import_streams(
        source_database.engine, table, parse_stream_file(write(tmp_path / "a.csv", RADIOS_CSV))
    )
    changed = write(
        tmp_path / "b.json",
        json.dumps(
            [
                {"url": "https://b.example/live", "name": "Radio B (new name)"},
                {"id": 0, "url": "https://a2.example/live", "name": "Rádio A", "active": False},
                {"url": "https://d.example/live", "name": "Radio D", "metadata": {"region": "N"}},
            ]
        ),
    )

    result = await import_streams(source_database.engine, table, parse_stream_file(changed))

    assert (result.inserted, result.updated, result.unchanged) == (1, 2, 0)
    rows = await table_rows(source_database, table)
    assert [(row[0], row[1], row[2], row[3]) for row in rows] == [
        (0, "https://a2.example/live", "Rádio A", False),
        (5, "https://b.example/live", "Radio B (new name)", True),
        (6, "https://c.example/live", "Radio C", True),
        (7, "https://d.example/live", "Radio D", True),
    ]
    assert rows[3][4] == {"region": "N"}


async def test_any_invalid_row_means_nothing_is_written(
    source_database: SourceDatabase, tmp_path: Path
) -> None:
    table = await embedded_table(source_database)
    await import_streams(
        source_database.engine, table, [{"url": "https://k.example/", "name": "K"}]
    )
    before = await table_rows(source_database, table)
    bad = write(
        tmp_path / "bad.csv",
        "url,name,id,active\n"
        "https://good.example/,Good,10,\n"
        "ftp://x,Bad scheme,11,\n"
        "https://noname.example/,,12,\n"
        "https://neg.example/,Negative,-3,\n"
        "https://flag.example/,Flag,13,maybe\n"
        "https://dup.example/,Dup,10,\n"
        "https://extra.example/,Extra,14,true,surplus\n",
    )

    with pytest.raises(StreamImportError) as raised:
        await import_streams(source_database.engine, table, parse_stream_file(bad))

    assert raised.value.problems == [
        "line 3: url 'ftp://x' is not an http(s) URL",
        "line 4: name is missing",
        "line 5: id '-3' is not a whole number >= 0",
        "line 6: active 'maybe' is not true/false (or 1/0, sim/não)",
        "line 8: 5 values but the header has 4 columns",
        "line 7: id 10 is also on line 2",
    ]
    assert await table_rows(source_database, table) == before


async def test_same_url_twice_without_ids_is_refused(source_database: SourceDatabase) -> None:
    table = await embedded_table(source_database)
    rows = [
        {"url": "https://same.example/", "name": "One"},
        {"url": "https://same.example/", "name": "Two"},
    ]

    with pytest.raises(StreamImportError) as raised:
        await import_streams(source_database.engine, table, rows)

    assert raised.value.problems == [
        "row 2: url 'https://same.example/' is also on row 1 (give each row an id to import both)"
    ]


async def test_deactivate_missing_keeps_rows_but_stops_monitoring_them(
    source_database: SourceDatabase, tmp_path: Path
) -> None:
    table = await embedded_table(source_database)
    all_rows = parse_stream_file(write(tmp_path / "all.csv", RADIOS_CSV))
    await import_streams(source_database.engine, table, all_rows)
    only_b = [
        {"index": 5, "url": "https://b.example/live", "name": "Radio B", "regiao": "Nordeste"}
    ]
    only_b[0]["cidade"] = "Recife"

    result = await import_streams(source_database.engine, table, only_b, deactivate_missing=True)

    assert (result.unchanged, result.deactivated) == (1, 2)
    assert [s.id for s in await SqlStreamSource(source_database.engine).load()] == [5]
    assert len(await table_rows(source_database, table)) == 3
    again = await import_streams(source_database.engine, table, all_rows)
    assert (again.updated, again.unchanged) == (2, 1)  # reactivated
    assert [s.id for s in await SqlStreamSource(source_database.engine).load()] == [0, 5, 6]
