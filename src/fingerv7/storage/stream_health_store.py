"""The shared copy of stream health: written on change only, read by every orchestrator process.

Heartbeats arrive at one process; views may be served by another. Each process keeps the latest
reports in memory (:mod:`fingerv7.orchestrator.stream_health`) and writes a row here only when a
stream's state (or its instance) changes, or a worker's problems change: a steady fleet writes
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fingerv7.storage.errors import map_database_errors
from fingerv7.storage.schema import INSTANCE_ID_LENGTH, UtcDateTime

metadata = MetaData()

stream_health = Table(
    "stream_health",
    metadata,
    Column("stream_id", BigInteger, primary_key=True, autoincrement=False),
    Column("instance_id", String(INSTANCE_ID_LENGTH), nullable=False),
    Column("state", String(16), nullable=False),
    Column("since", UtcDateTime),
    Column("detail", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

instance_health = Table(
    "instance_health",
    metadata,
    Column("instance_id", String(INSTANCE_ID_LENGTH), primary_key=True),
    Column("processor", String(32)),
    Column("problems", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)


@dataclass(frozen=True, slots=True)
class StreamHealthRow:
    stream_id: int
    instance_id: str
    state: str
    since: datetime | None
    detail: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class InstanceHealthRow:
    instance_id: str
    processor: str | None
    problems: list[str]
    updated_at: datetime


class StreamHealthStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def write(
        self, streams: Sequence[StreamHealthRow], instances: Sequence[InstanceHealthRow]
    ) -> None:
        """Upsert changed rows in one short transaction."""
        if not streams and not instances:
            return
        with map_database_errors():
            async with self.engine.begin() as conn:
                if streams:
                    await _upsert(conn, stream_health, "stream_id", [_row(s) for s in streams])
                if instances:
                    rows = [_row(i) for i in instances]
                    await _upsert(conn, instance_health, "instance_id", rows)

    async def streams(self) -> dict[int, StreamHealthRow]:
        with map_database_errors():
            async with self.engine.connect() as conn:
                rows = await conn.execute(select(stream_health))
                return {int(r.stream_id): StreamHealthRow(**r._mapping) for r in rows}

    async def instances(self) -> dict[str, InstanceHealthRow]:
        with map_database_errors():
            async with self.engine.connect() as conn:
                rows = await conn.execute(select(instance_health))
                return {r.instance_id: InstanceHealthRow(**r._mapping) for r in rows}


def _row(value: StreamHealthRow | InstanceHealthRow) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__}


async def _upsert(
    conn: AsyncConnection, table: Table, key: str, rows: list[dict[str, Any]]
) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    updates = {c.name: statement.excluded[c.name] for c in table.columns if c.name != key}
    await conn.execute(statement.on_conflict_do_update(index_elements=[key], set_=updates), rows)
