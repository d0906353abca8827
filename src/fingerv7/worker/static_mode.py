"""Static mode (`USE_ORCHESTRATOR=false`): the worker picks its own streams, as the original did.

It reads the streams table from PostgreSQL, keeps the ones whose number falls in its shard
(:mod:`fingerv7.core.sharding`), and reloads at every `STATIC_REFRESH_SECONDS` and at every
rotation boundary. There is no coordination between workers: shards only stay disjoint when
every worker has the same TOTAL_SERVERS, a distinct SERVER_ID, and a synchronised clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from fingerv7.core.sharding import current_offset, next_rotation_s, select_shard
from fingerv7.processing import AssignedStream
from fingerv7.storage.stream_records import SourceStream, StreamColumns, convert_rows
from fingerv7.worker.reconciler import Reconciler
from fingerv7.worker.settings import WorkerSettings
from fingerv7.worker.status import AgentCounters

logger = logging.getLogger("fingerv7.worker.static")

CONNECT_TIMEOUT_S = 10


class StreamTableError(Exception):
    """The streams table has no usable shape (no `url` column, or neither `index` nor `id`)."""


@dataclass(frozen=True, slots=True)
class NumberedStream:
    """A row of the streams table: its stream number (the `index` column) and the stream."""

    number: int
    stream: AssignedStream


def _numbered(stream: SourceStream) -> NumberedStream:
    assigned = AssignedStream(
        id=stream.id, url=stream.url, name=stream.name, metadata=stream.metadata
    )
    return NumberedStream(stream.id, assigned)


def row_to_stream(row: dict[str, Any]) -> NumberedStream | None:
    """One table row (either table shape) → a stream, or None when it cannot be used.

    The same rules as the orchestrator's (:mod:`fingerv7.storage.stream_records`).
    """
    try:
        columns = StreamColumns.from_names(list(row))
    except ValueError:
        return None
    streams = convert_rows(columns, [row]).streams
    return _numbered(streams[0]) if streams else None


class PostgresStreamSource:
    """Reads every row of the streams table (`STREAMS_TABLE`, may be `schema.table`).

    Rows become streams by the orchestrator's rules (:mod:`fingerv7.storage.stream_records`),
    so the same table yields the same streams in static mode as under an orchestrator.
    """

    def __init__(self, conninfo: str, table: str) -> None:
        self._conninfo = conninfo
        self._table_name = table
        self._table = sql.Identifier(*table.split("."))
        self._last_warnings: list[str] = []

    async def load(self) -> list[NumberedStream]:
        """Active, usable streams by number; raises psycopg.Error or StreamTableError."""
        query = sql.SQL("SELECT * FROM {}").format(self._table)
        async with await psycopg.AsyncConnection.connect(
            self._conninfo, connect_timeout=CONNECT_TIMEOUT_S, row_factory=dict_row
        ) as conn:
            cursor = await conn.execute(query)
            names = [column.name for column in cursor.description or ()]
            rows = await cursor.fetchall()
        try:
            columns = StreamColumns.from_names(names)
        except ValueError as problem:
            raise StreamTableError(f"table {self._table_name} {problem}") from None
        report = convert_rows(columns, rows)
        warnings = report.warnings(f"table {self._table_name}")
        for line in warnings if warnings != self._last_warnings else ():
            logger.warning(line)
        self._last_warnings = warnings
        return [_numbered(stream) for stream in report.streams]


def choose_streams(
    streams: Sequence[NumberedStream], settings: WorkerSettings, now_s: float
) -> list[AssignedStream]:
    """This worker's streams at `now_s`: its shard (rotated when enabled), or all of them."""
    if not settings.distribute_load:
        return [s.stream for s in streams]
    shard = settings.shard
    offset = current_offset(
        now_s,
        shard.total_servers,
        rotation_enabled=settings.enable_rotation,
        rotation_hours=settings.rotation_hours,
    )
    by_number = {s.number: s.stream for s in streams}
    return [by_number[n] for n in select_shard(by_number, shard, offset)]


class StaticAgent:
    """Keeps the reconciler on this worker's shard until shutdown."""

    def __init__(
        self,
        settings: WorkerSettings,
        source: PostgresStreamSource,
        reconciler: Reconciler,
        counters: AgentCounters,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.source = source
        self.reconciler = reconciler
        self.counters = counters
        self._wall_clock = wall_clock
        self._generation = 0
        self._streams: list[NumberedStream] = []

    async def run(self, shutdown: asyncio.Event) -> int:
        while not shutdown.is_set():
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(shutdown.wait(), timeout=self._seconds_until_next_refresh())
        self.counters.stopping = True
        await self.reconciler.reset(reason="shutdown")
        return 0

    async def refresh(self) -> None:
        """Reload the table (keeping the last good copy on error) and apply the shard."""
        try:
            self._streams = await self.source.load()
            self.counters.last_error = None
        except (psycopg.Error, StreamTableError) as exc:
            self.counters.last_error = f"cannot read streams: {exc}"
            logger.warning("[STREAM] cannot read the streams table (%s); keeping current ones", exc)
        chosen = choose_streams(self._streams, self.settings, self._wall_clock())
        self._generation += 1
        await self.reconciler.apply(chosen, self._generation, epoch=self.reconciler.epoch)
        logger.info(
            "[STREAM] static shard: running %d of %d streams", len(chosen), len(self._streams)
        )

    def _seconds_until_next_refresh(self) -> float:
        wait_s = self.settings.static_refresh_seconds
        if self.settings.enable_rotation and self.settings.distribute_load:
            now = self._wall_clock()
            wait_s = min(wait_s, next_rotation_s(now, self.settings.rotation_hours) - now + 0.01)
        return max(0.01, wait_s)
