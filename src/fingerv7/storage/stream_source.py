"""Reading the streams to monitor from a SQL table, the orchestrator's stream source.

The table may live in the orchestrator's own database (the embedded default, filled by
`fingerv7 streams import`) or in an external PostgreSQL (`POSTGRES_*` settings). Toward that
database this module is read-only: one `SELECT *` per load inside a READ ONLY transaction with a
statement timeout, so a stuck or locked source cannot hang the orchestrator. `SELECT *` (rather
than a column list reflected once) means columns added, dropped or renamed in the source are
picked up on the next load with nothing cached to go stale; the rules for turning rows into
streams are in `stream_records`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import URL, inspect, literal_column, select, table, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncResult,
    create_async_engine,
)

from fingerv7.storage.database_url import POSTGRESQL_ASYNC_DRIVER, describe_url
from fingerv7.storage.row_digest import row_digest
from fingerv7.storage.stream_records import (
    ConversionReport,
    SourceStream,
    StreamColumns,
    convert_rows,
)

__all__ = [
    "SourceStream",
    "SqlStreamSource",
    "StreamSourceError",
    "build_source_engine",
]

logger = logging.getLogger(__name__)

_MAX_DRIVER_MESSAGE_CHARS = 300
ROWS_PER_FETCH = 2_000


class StreamSourceError(Exception):
    """The streams table cannot be read. The message tells a person what to fix, never a secret."""


class SqlStreamSource:
    """The streams listed in one table of one database (see docs/streams.md for the shapes)."""

    def __init__(
        self,
        engine: AsyncEngine,
        table_name: str = "streams",
        schema: str | None = None,
        *,
        statement_timeout_s: float = 10.0,
    ) -> None:
        self._engine = engine
        self._table_name = table_name
        self._schema = schema
        self._statement_timeout_ms = max(1, math.ceil(statement_timeout_s * 1000))
        self._last_warnings: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        """`postgresql://host:5432/db table streams`: safe for logs and /health (no credentials)."""
        return f"{describe_url(self._engine.url)} table {self._qualified_name}"

    async def load(self, *, include_inactive: bool = False) -> list[SourceStream]:
        """Every active stream (all with `include_inactive`) with a usable id and url, by id.

        Rows without a numeric id or without a url are skipped and a duplicate id keeps its first
        row (in table order); each kind of problem is logged as one warning line.
        Raises StreamSourceError when the table cannot be read.
        """
        connection = await self._connect()
        try:
            async with connection.begin():
                await self._limit_transaction(connection)
                # Fetched in slices so that reading 100,000 rows never holds the event loop
                # (which answers heartbeats) for more than one slice at a time.
                result: AsyncResult[Any] = await connection.stream(
                    select(literal_column("*"))
                    .select_from(table(self._table_name, schema=self._schema))
                    .execution_options(yield_per=ROWS_PER_FETCH)
                )
                column_names = list(result.keys())
                rows = [row async for rows in result.mappings().partitions() for row in rows]
        except DBAPIError as error:
            raise await self._explain_query_failure(error) from None
        finally:
            await connection.close()
        columns = self._columns_from(column_names)
        # 100,000 rows take a second to convert: not on the event loop that answers heartbeats.
        report = await asyncio.to_thread(
            convert_rows, columns, rows, include_inactive=include_inactive
        )
        self._log_problems(report)
        return report.streams

    async def digest(self) -> tuple[int, int] | None:
        """A cheap fingerprint of every row of the table, `(rows, sum of row hashes)`: equal
        digests mean nothing in the table changed, so the monitor can skip reading and comparing
        100,000 rows. PostgreSQL computes it (`hashtextextended` of each whole row, version 11
        and later); None where it cannot (SQLite, an older server, any error): then every sync
        reads the table, as before. Not a security measure, only a change detector.
        """
        if self._engine.dialect.name != "postgresql":
            return None
        rows = table(self._table_name, schema=self._schema).alias("source_row")
        query = select(*row_digest(literal_column("source_row"))).select_from(rows)
        try:
            connection = await self._connect()
        except StreamSourceError:
            return None  # the load that follows reports why
        try:
            async with connection.begin():
                await self._limit_transaction(connection)
                count, total = (await connection.execute(query)).one()
        except DBAPIError as error:
            logger.debug("[STREAM] no digest of %s: %s", self.description, error)
            return None
        finally:
            await connection.close()
        return int(count), int(total or 0)

    async def ping(self) -> float:
        """Seconds taken by a trivial round trip to the source database; raises on failure."""
        started = time.perf_counter()
        connection = await self._connect()
        try:
            async with connection.begin():
                await self._limit_transaction(connection)
                await connection.execute(text("SELECT 1"))
        except DBAPIError as error:
            raise StreamSourceError(
                f"{self._database_description} did not answer: {self._driver_message(error)}"
            ) from None
        finally:
            await connection.close()
        return time.perf_counter() - started

    @property
    def _qualified_name(self) -> str:
        return f"{self._schema}.{self._table_name}" if self._schema else self._table_name

    @property
    def _database_description(self) -> str:
        return describe_url(self._engine.url)

    @property
    def _database_name(self) -> str:
        return self._engine.url.database or "?"

    async def _connect(self) -> AsyncConnection:
        try:
            return await self._engine.connect()
        except (SQLAlchemyError, OSError) as error:
            raise StreamSourceError(
                f"cannot connect to {self._database_description}: {self._driver_message(error)}"
            ) from None

    async def _limit_transaction(self, connection: AsyncConnection) -> None:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SET TRANSACTION READ ONLY"))
            await connection.execute(
                text(f"SET LOCAL statement_timeout = {self._statement_timeout_ms}")
            )

    async def _explain_query_failure(self, error: DBAPIError) -> StreamSourceError:
        """Turn a failed SELECT into a message that says whether the table is missing."""
        reason = self._driver_message(error)
        if error.connection_invalidated:
            return StreamSourceError(
                f"lost the connection to {self._database_description}: {reason}"
            )
        try:
            async with self._engine.connect() as connection, connection.begin():
                await self._limit_transaction(connection)
                exists = await connection.run_sync(
                    lambda sync_connection: inspect(sync_connection).has_table(
                        self._table_name, schema=self._schema
                    )
                )
        except (SQLAlchemyError, OSError):
            exists = True  # cannot tell; report the original failure
        if not exists:
            return StreamSourceError(
                f"table '{self._qualified_name}' not found in database '{self._database_name}' "
                f"({self._database_description})"
            )
        return StreamSourceError(f"cannot read {self.description}: {reason}")

    def _columns_from(self, column_names: Sequence[str]) -> StreamColumns:
        try:
            return StreamColumns.from_names(column_names)
        except ValueError as problem:
            raise StreamSourceError(
                f"table '{self._qualified_name}' in database '{self._database_name}' {problem} "
                f"(its columns: {', '.join(column_names) or 'none'})"
            ) from None

    def _log_problems(self, report: ConversionReport) -> None:
        """One warning line per kind of problem, repeated only when the problems change."""
        warnings = report.warnings(self.description)
        level = logging.DEBUG if tuple(warnings) == self._last_warnings else logging.WARNING
        for line in warnings:
            logger.log(level, line)
        self._last_warnings = tuple(warnings)
        logger.debug(
            "[STREAM] loaded %d active stream(s) from %s (%d inactive)",
            len(report.streams),
            self.description,
            report.inactive_count,
        )

    def _driver_message(self, error: BaseException) -> str:
        """The driver's reason on one line, with the password blanked should it ever appear."""
        original: Any = getattr(error, "orig", None) or error
        message = " ".join(str(original).split())[:_MAX_DRIVER_MESSAGE_CHARS]
        password = self._engine.url.password
        if password and len(str(password)) >= 3:
            message = message.replace(str(password), "***")
        return message or type(original).__name__


def build_source_engine(
    host: str,
    port: int,
    database: str,
    user: str | None,
    password: str | None,
    *,
    connect_timeout_s: float = 10.0,
    pool_size: int = 2,
) -> AsyncEngine:
    """An engine for the external streams database named by the `POSTGRES_*` settings.

    `URL.create` keeps passwords with `@`, `/` or `%` intact; the pool is small because the
    source is read once per sync interval, and pre-ping drops connections the server closed.
    """
    url = URL.create(
        f"postgresql+{POSTGRESQL_ASYNC_DRIVER}",
        username=user or None,
        password=password or None,
        host=host,
        port=port,
        database=database,
    )
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=1,
        pool_timeout=connect_timeout_s,
        pool_recycle=1800,
        connect_args={
            # libpq rounds connect_timeout to whole seconds and treats values below 2 as 2.
            "connect_timeout": max(2, math.ceil(connect_timeout_s)),
            "application_name": "fingerv7-orchestrator",
        },
    )
