"""Importing streams into the embedded streams table: validate everything, then one transaction.

Rules (docs/streams.md): a row's id is its `index` if given, else its `id`; a row with an id
updates that stream or creates it; a row without one updates the stream with the same url, or
becomes a new stream numbered max(id)+1. Columns other than id/index/url/name/active/metadata
(and the old orchestrators' bookkeeping columns, which are ignored) go into `metadata`.
Re-importing the same file changes nothing. If any row is invalid nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fingerv7.storage.stream_file import StreamFileRow
from fingerv7.storage.stream_records import (
    RESERVED_COLUMNS,
    metadata_from_json_column,
    parse_flag,
    parse_stream_id,
    to_json_value,
)

_MAX_PROBLEMS_SHOWN = 20


class StreamImportError(ValueError):
    """Some rows are invalid; `problems` lists each with its position. Nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:_MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        lines = [f"{len(problems)} problem(s), nothing was imported:", *shown]
        if more:
            lines.append(f"... and {more} more")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class ImportResult:
    """How many streams an import created, changed, left alone and deactivated."""

    inserted: int
    updated: int
    unchanged: int
    deactivated: int

    def summary(self) -> str:
        return (
            f"{self.inserted} new, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.deactivated} deactivated"
        )


class StreamRecord(BaseModel):
    """One validated stream of an import file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int | None = Field(default=None)
    url: str
    name: str
    active: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> int | None:
        if value is None:
            return None
        parsed = parse_stream_id(value)
        if parsed is None:
            raise ValueError(f"id {value!r} is not a whole number >= 0")
        return parsed

    @field_validator("url", mode="after")
    @classmethod
    def _http_url(cls, value: str) -> str:
        url = value.strip()
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url {value!r} is not an http(s) URL")
        return url

    @field_validator("name", mode="after")
    @classmethod
    def _non_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name is empty")
        return value.strip()

    @field_validator("active", mode="before")
    @classmethod
    def _flag(cls, value: object) -> bool:
        if value is None:
            return True
        parsed = parse_flag(value)
        if parsed is None:
            raise ValueError(f"active {value!r} is not true/false (or 1/0, sim/não)")
        return parsed


def validate_stream_rows(
    rows: Sequence[StreamFileRow | Mapping[str, Any]],
) -> list[tuple[str, StreamRecord]]:
    """Every row as a (position, record) pair; raises StreamImportError listing all problems."""
    problems: list[str] = []
    records: list[tuple[str, StreamRecord]] = []
    for number, row in enumerate(rows, start=1):
        if isinstance(row, StreamFileRow):
            position, values = row.position, row.values
            problems.extend(f"{position}: {problem}" for problem in row.problems)
        else:
            position, values = f"row {number}", dict(row)
        try:
            records.append((position, StreamRecord.model_validate(_record_input(values))))
        except ValidationError as error:
            problems.extend(f"{position}: {message}" for message in _messages(error))
    problems.extend(_duplicate_problems(records))
    if problems:
        raise StreamImportError(problems)
    return records


async def import_streams(
    engine: AsyncEngine,
    table: Table,
    rows: Sequence[StreamFileRow | Mapping[str, Any]],
    *,
    deactivate_missing: bool = False,
) -> ImportResult:
    """Validate `rows`, then upsert them into `table` in one transaction.

    With `deactivate_missing`, active streams of the table that the file does not mention are
    marked inactive (never deleted, so their ids are not reused).
    """
    records = [record for _, record in validate_stream_rows(rows)]
    now = dt.datetime.now(dt.UTC)
    async with engine.begin() as connection:
        existing = await _existing_streams(connection, table)
        planned = _assign_ids(records, existing)
        inserts = [_row_values(stream_id, record) for stream_id, record in planned.items()]
        new_rows = [values for values in inserts if values["id"] not in existing]
        changed = [
            values
            for values in inserts
            if values["id"] in existing and existing[values["id"]] != _comparable(values)
        ]
        if new_rows:
            await connection.execute(
                insert(table),
                [{**values, "created_at": now, "updated_at": now} for values in new_rows],
            )
        for values in changed:
            await connection.execute(
                update(table)
                .where(table.c.id == values["id"])
                .values({**values, "updated_at": now})
            )
        deactivated = 0
        if deactivate_missing:
            deactivated = await _deactivate(connection, table, existing, set(planned), now)
    return ImportResult(
        inserted=len(new_rows),
        updated=len(changed),
        unchanged=len(inserts) - len(new_rows) - len(changed),
        deactivated=deactivated,
    )


def _record_input(values: Mapping[str, Any]) -> dict[str, Any]:
    """Map a file row's columns (any case) onto StreamRecord's fields; the rest is metadata."""
    by_lower = {str(key).strip().lower(): value for key, value in values.items()}
    present = {key: value for key, value in by_lower.items() if value not in (None, "")}
    metadata = metadata_from_json_column(present.get("metadata"))
    for key, value in values.items():
        column = str(key).strip()
        if column.lower() not in RESERVED_COLUMNS and value not in (None, ""):
            metadata[column] = to_json_value(value)
    record: dict[str, Any] = {"metadata": metadata}
    for field in ("url", "name", "active"):
        if field in present:
            record[field] = present[field] if field == "active" else str(present[field])
    stream_id = present.get("index", present.get("id"))
    if stream_id is not None:
        record["id"] = stream_id
    return record


def _messages(error: ValidationError) -> list[str]:
    messages: list[str] = []
    for detail in error.errors(include_url=False):
        field = ".".join(str(part) for part in detail["loc"]) or "row"
        if detail["type"] == "missing":
            messages.append(f"{field} is missing")
        elif detail["type"] == "value_error":
            messages.append(str(detail["msg"]).removeprefix("Value error, "))
        else:
            messages.append(f"{field}: {detail['msg']}")
    return messages


def _duplicate_problems(records: list[tuple[str, StreamRecord]]) -> list[str]:
    problems: list[str] = []
    first_by_id: dict[int, str] = {}
    first_by_url: dict[str, str] = {}
    for position, record in records:
        first_by_url.setdefault(record.url, position)
        if record.id is None:
            continue
        if record.id in first_by_id:
            problems.append(f"{position}: id {record.id} is also on {first_by_id[record.id]}")
        first_by_id.setdefault(record.id, position)
    for position, record in records:
        if record.id is None and first_by_url[record.url] != position:
            problems.append(
                f"{position}: url {record.url!r} is also on {first_by_url[record.url]} "
                "(give each row an id to import both)"
            )
    return problems


async def _existing_streams(
    connection: AsyncConnection, table: Table
) -> dict[int, tuple[str, str, bool, dict[str, Any]]]:
    result = await connection.execute(
        select(table.c.id, table.c.url, table.c.name, table.c.active, table.c.metadata)
    )
    return {
        row.id: (row.url, row.name, bool(row.active), metadata_from_json_column(row.metadata))
        for row in result
    }


def _assign_ids(
    records: list[StreamRecord], existing: Mapping[int, tuple[str, str, bool, dict[str, Any]]]
) -> dict[int, StreamRecord]:
    planned = {record.id: record for record in records if record.id is not None}
    id_by_url: dict[str, int] = {}
    for stream_id in sorted(existing):
        id_by_url.setdefault(existing[stream_id][0], stream_id)
    next_id = max([0, *existing, *planned]) + 1
    for record in records:
        if record.id is not None:
            continue
        matched = id_by_url.get(record.url)
        if matched is not None and matched not in planned:
            planned[matched] = record
        else:
            planned[next_id] = record
            next_id += 1
    return planned


def _row_values(stream_id: int, record: StreamRecord) -> dict[str, Any]:
    return {
        "id": stream_id,
        "url": record.url,
        "name": record.name,
        "active": record.active,
        "metadata": record.metadata,
    }


def _comparable(values: Mapping[str, Any]) -> tuple[str, str, bool, dict[str, Any]]:
    return (values["url"], values["name"], values["active"], values["metadata"])


async def _deactivate(
    connection: AsyncConnection,
    table: Table,
    existing: Mapping[int, tuple[str, str, bool, dict[str, Any]]],
    kept_ids: set[int],
    now: dt.datetime,
) -> int:
    missing = [
        stream_id
        for stream_id, (_, _, active, _) in existing.items()
        if active and stream_id not in kept_ids
    ]
    if missing:
        await connection.execute(
            update(table).where(table.c.id.in_(missing)).values(active=False, updated_at=now)
        )
    return len(missing)
