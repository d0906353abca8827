"""The latest rows of `music_log`, for the dashboard's "recent identifications".

Read-only and best effort: the table lives in the external database next to the streams (the
workers write it); when it does not exist yet, the answer is simply "not available".
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import desc, inspect, literal_column, select, table, text
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncEngine

from fingerv7.storage.errors import map_database_errors

SHOWN_COLUMNS = (
    "date",
    "time",
    "name",
    "artist",
    "song_title",
    "isrc",
    "cidade",
    "estado",
    "identified_by",
    "created_at",
)


async def recent_plays(
    engine: AsyncEngine, table_name: str, limit: int
) -> list[dict[str, Any]] | None:
    """The newest `limit` plays, newest first; None when there is no such table.

    Raises `DatabaseFailure` when the table cannot be read, `DatabaseBusy` when no pooled
    connection is free."""
    with map_database_errors():
        return await _newest_plays(engine, table_name, limit)


async def _newest_plays(
    engine: AsyncEngine, table_name: str, limit: int
) -> list[dict[str, Any]] | None:
    async with engine.connect() as connection:
        exists = await connection.run_sync(lambda sync: inspect(sync).has_table(table_name))
        await connection.rollback()  # the read below starts its own read-only transaction
        if not exists:
            return None
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SET TRANSACTION READ ONLY"))
            await connection.execute(text("SET LOCAL statement_timeout = 5000"))
        rows: Result[Any] = await connection.execute(
            select(literal_column("*"))
            .select_from(table(table_name))
            .order_by(desc(literal_column("id")))
            .limit(limit)
        )
        plays = [_shown(dict(row)) for row in rows.mappings()]
        await connection.rollback()
    return plays


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {key: _json_value(row.get(key)) for key in SHOWN_COLUMNS if key in row}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value
