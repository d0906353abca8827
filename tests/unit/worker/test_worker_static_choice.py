"""Static mode's choice of streams from table rows (both table shapes)."""

from __future__ import annotations

from typing import Any

import pytest

from fingerv7.core.sharding import SECONDS_PER_HOUR
from fingerv7.worker.settings import WorkerSettings
from fingerv7.worker.static_mode import NumberedStream, choose_streams, row_to_stream


def static_settings(**values: object) -> WorkerSettings:
    base: dict[str, Any] = {"use_orchestrator": False, "server_id": "2", "total_servers": 3}
    return WorkerSettings(_env_file=None, **(base | values))  # type: ignore[call-arg]


def rows(count: int) -> list[NumberedStream]:
    result = []
    for i in range(count):
        stream = row_to_stream({"index": str(i), "url": f"http://r/{i}", "name": f"R{i}"})
        assert stream is not None
        result.append(stream)
    return result


def test_original_rows_become_streams_numbered_by_index() -> None:
    row = {
        "url": "http://radio/x", "name": "Radio X", "sheet": "s1", "cidade": "Recife",
        "estado": "PE", "regiao": "Nordeste", "segmento": "pop", "index": " 42 ",
    }  # fmt: skip
    numbered = row_to_stream(row)
    assert numbered is not None
    assert numbered.number == 42 and numbered.stream.id == 42
    assert numbered.stream.metadata == {
        "sheet": "s1", "cidade": "Recife", "estado": "PE", "regiao": "Nordeste", "segmento": "pop"
    }  # fmt: skip


@pytest.mark.parametrize(
    "row",
    [
        {"index": "x1", "url": "http://r", "name": "bad index"},
        {"index": "3", "url": None, "name": "no url"},
        {"id": 3, "url": "http://r", "name": "inactive", "active": False},
        {"url": "http://r", "name": "no number"},
    ],
)
def test_unusable_rows_are_skipped(row: dict[str, object]) -> None:
    assert row_to_stream(row) is None


def test_manual_table_shape_uses_id() -> None:
    numbered = row_to_stream({"id": 9, "url": "http://r", "name": "R", "active": True})
    assert numbered is not None and numbered.number == 9


def test_shard_without_rotation() -> None:
    chosen = choose_streams(rows(10), static_settings(), now_s=0)
    assert [s.id for s in chosen] == [1, 4, 7]


def test_shard_rotates_every_period() -> None:
    settings = static_settings(enable_rotation=True, rotation_hours=1)
    hour = SECONDS_PER_HOUR
    shards = [
        [s.id for s in choose_streams(rows(9), settings, now_s=p * hour + 1)] for p in range(3)
    ]
    assert shards == [[1, 4, 7], [0, 3, 6], [2, 5, 8]]


def test_without_distribute_load_every_stream_runs() -> None:
    chosen = choose_streams(rows(5), static_settings(distribute_load=False), now_s=0)
    assert [s.id for s in chosen] == [0, 1, 2, 3, 4]
