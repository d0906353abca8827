"""Fitting plays to an existing music_log: widths, missing columns, local time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from fingerv7.playlog import Play, TableShape, TableShapeError, fit_text, stream_metadata_fields

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
ORIGINAL_WIDTHS: dict[str, int | None] = {
    "id": None,
    "date": None,
    "time": None,
    "name": 255,
    "artist": 255,
    "song_title": 255,
    "isrc": 50,
    "cidade": 100,
    "estado": 50,
    "regiao": 50,
    "segmento": 100,
    "label": 255,
    "genre": 100,
    "identified_by": 10,
    "created_at": None,
}


def a_play(**changes: object) -> Play:
    fields: dict[str, object] = {
        "stream_id": 4,
        "stream_name": "Rádio Teste",
        "artist": "Artist",
        "song_title": "Song",
        "heard_at": datetime(2025, 8, 27, 1, 30, 15, 700000, tzinfo=UTC),
        "identified_by": "fingerv7-worker-001",
        "cidade": "Recife",
    }
    fields.update(changes)
    return Play(**fields)  # type: ignore[arg-type]


def test_the_original_table_gets_a_fitted_instance_id_and_local_time() -> None:
    row = TableShape(ORIGINAL_WIDTHS).row(a_play(), SAO_PAULO)
    assert row["identified_by"] == "worker-001"  # the tail: where instance ids differ
    assert row["date"] == date(2025, 8, 26)  # 01:30 UTC is the evening before in São Paulo
    assert row["time"] == time(22, 30, 15)  # whole seconds, as the original wrote
    assert row["cidade"] == "Recife" and row["estado"] is None


def test_long_text_keeps_its_start_and_short_text_is_untouched() -> None:
    assert fit_text("x" * 300, 255) == "x" * 255
    assert fit_text("fingerv7-001", 10, keep_end=True) == "ngerv7-001"
    assert fit_text("w1", 10, keep_end=True) == "w1"
    assert fit_text(None, 5) is None
    assert fit_text("anything", None) == "anything"


def test_only_existing_columns_are_written() -> None:
    widths = {c: w for c, w in ORIGINAL_WIDTHS.items() if c not in ("isrc", "label", "genre")}
    shape = TableShape(widths)
    assert "isrc" not in shape.row(a_play(isrc="BRXXX2500001"), SAO_PAULO)
    assert shape.written_columns[:5] == ("date", "time", "name", "artist", "song_title")
    assert "identified_by" in shape.written_columns


def test_a_table_without_the_play_columns_is_refused() -> None:
    with pytest.raises(TableShapeError, match="song_title"):
        TableShape({"id": None, "date": None, "time": None, "name": 255, "artist": 255})


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        a_play(heard_at=datetime(2025, 1, 1, 12, 0))


def test_stream_metadata_becomes_the_location_columns() -> None:
    fields = stream_metadata_fields(
        {"cidade": " Belém ", "estado": "PA", "regiao": "", "segmento": 7, "sheet": "x"}
    )
    assert fields == {"cidade": "Belém", "estado": "PA", "regiao": None, "segmento": "7"}
