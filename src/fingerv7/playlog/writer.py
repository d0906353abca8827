"""Writes plays to the external PostgreSQL music_log table, at most once per play.

Each write is one transaction: take a transaction-scoped advisory lock on (table, stream name,
artist, title), look for a row of that song on that stream less than the window away, insert
only if there is none. Every writer (any instance, any retry) takes the same lock for the same
song on the same stream, so the check and the insert cannot interleave with another writer's:
two instances that both hear a song during a handoff, or a retry after a timeout whose first
attempt did commit, find the first row and insert nothing. The lock is released by COMMIT or by
the connection dying, so nothing is ever left locked. `ON CONFLICT DO NOTHING` also respects the
original's optional `UNIQUE (name, artist, song_title, date, time)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import errors, sql

from fingerv7.playlog.dedupe import play_lock_key
from fingerv7.playlog.play import Play
from fingerv7.playlog.table import (
    CREATE_TABLE_SQL,
    SHAPE_QUERY,
    TableShape,
    TableShapeError,
    split_table_name,
    table_identifier,
)

logger = logging.getLogger("fingerv7.playlog.writer")

CONNECT_TIMEOUT_S = 5.0
# A write that takes longer is abandoned (its connection closed); the play stays buffered and
# is retried, which the duplicate check makes safe even if the abandoned attempt committed.
OPERATION_TIMEOUT_S = 15.0
# After hanging up, how long the attempt may take to notice before it is cancelled outright.
HANG_UP_GRACE_S = 1.0

_CHECK_SQL = """
SELECT 1 FROM {table}
WHERE name = %(name)s AND artist = %(artist)s AND song_title = %(song_title)s
  AND date BETWEEN %(first_date)s AND %(last_date)s
  AND (date + time) > %(earliest)s AND (date + time) < %(latest)s
LIMIT 1
"""
_REJECTING_ERRORS = (errors.DataError, errors.IntegrityError)


class WriteOutcome(StrEnum):
    INSERTED = "inserted"
    DUPLICATE = "duplicate"  # a row of the same play exists: nothing written


class PlayLogUnavailable(Exception):
    """The database cannot take the play now (down, unreachable, table unusable): retry later."""


class PlayRejected(Exception):
    """The database refuses this play for good (a value it cannot store): do not retry."""


class MusicLogWriter:
    """One connection to the music_log database, opened on demand and reopened after failures."""

    def __init__(
        self,
        conninfo: str,
        table_name: str,
        *,
        window_s: float,
        zone: ZoneInfo,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        operation_timeout_s: float = OPERATION_TIMEOUT_S,
    ) -> None:
        self.table_name = table_name
        self.window_s = window_s
        self.zone = zone
        self._conninfo = conninfo
        self._connect_timeout_s = connect_timeout_s
        self._operation_timeout_s = operation_timeout_s
        self._table = table_identifier(table_name)
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._shape: TableShape | None = None
        self._hung_up = False

    async def write(self, play: Play) -> WriteOutcome:
        """Insert `play` unless the same play is already logged; see the module doc.

        Bounded by `operation_timeout_s` (connecting included, which `connect_timeout_s` bounds
        first): when it passes, the writer hangs up (see :meth:`_hang_up`) and the attempt fails
        at once with :class:`PlayLogUnavailable`.
        """
        loop = asyncio.get_running_loop()
        self._hung_up = False
        deadline = loop.call_later(self._operation_timeout_s, self._hang_up)
        try:
            async with asyncio.timeout(self._operation_timeout_s + HANG_UP_GRACE_S):
                return await self._write(play)
        except _REJECTING_ERRORS as error:
            raise PlayRejected(f"{type(error).__name__}: {error}") from error
        except (errors.UndefinedTable, errors.UndefinedColumn) as error:
            self._shape = None  # re-read (or re-create) the table on the next attempt
            raise PlayLogUnavailable(f"{type(error).__name__}: {error}") from error
        except TableShapeError as error:
            self._shape = None
            raise PlayLogUnavailable(str(error)) from error
        except (psycopg.Error, OSError, TimeoutError) as error:
            await self._discard_connection()
            reason = self._no_answer() if self._hung_up else _describe(error)
            raise PlayLogUnavailable(reason) from error
        except asyncio.CancelledError:
            await self._discard_connection()  # mid-transaction: its state is unknown
            raise
        finally:
            deadline.cancel()

    def _hang_up(self) -> None:
        """Shut the connection's socket down without a word to the server.

        Cancelling the coroutine instead would make psycopg send the server a cancel request
        and wait for the cancelled query, up to 5 s each, which a hung server never answers: the
        documented 15 s became 25 s. A socket shut down reads as end of file at once, so the
        pending call fails now and the connection is marked broken (no cancel, no ROLLBACK).
        """
        self._hung_up = True
        connection = self._connection
        if connection is None or connection.closed:
            return  # still connecting: `connect_timeout_s` bounds that
        with contextlib.suppress(OSError, psycopg.Error):
            shared = socket.socket(fileno=connection.pgconn.socket)
            try:
                shared.shutdown(socket.SHUT_RDWR)
            finally:
                shared.detach()  # the descriptor stays psycopg's to close

    def _no_answer(self) -> str:
        return f"no answer within {self._operation_timeout_s:g} s (connection closed)"

    async def _write(self, play: Play) -> WriteOutcome:
        connection, shape = await self._ready()
        values = shape.row(play, self.zone)
        lock_key = play_lock_key(
            self.table_name, values["name"], values["artist"], values["song_title"]
        )
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key])
            if self.window_s > 0 and await self._logged_nearby(connection, values):
                return WriteOutcome.DUPLICATE
            columns = shape.written_columns
            insert = sql.SQL(
                "INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT DO NOTHING"
            ).format(
                table=self._table,
                columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
                values=sql.SQL(", ").join(map(sql.Placeholder, columns)),
            )
            cursor = await connection.execute(insert, {c: values[c] for c in columns})
            return WriteOutcome.INSERTED if cursor.rowcount == 1 else WriteOutcome.DUPLICATE

    async def _logged_nearby(
        self, connection: psycopg.AsyncConnection[Any], values: dict[str, Any]
    ) -> bool:
        heard = datetime.combine(values["date"], values["time"])
        window = timedelta(seconds=self.window_s)
        params = {
            "name": values["name"],
            "artist": values["artist"],
            "song_title": values["song_title"],
            "first_date": (heard - window).date(),
            "last_date": (heard + window).date(),
            "earliest": heard - window,
            "latest": heard + window,
        }
        query = sql.SQL(_CHECK_SQL).format(table=self._table)
        cursor = await connection.execute(query, params)
        return await cursor.fetchone() is not None

    async def _ready(self) -> tuple[psycopg.AsyncConnection[Any], TableShape]:
        if self._connection is None or self._connection.closed:
            self._shape = None
            self._connection = await psycopg.AsyncConnection.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=max(1, round(self._connect_timeout_s)),
                application_name="fingerv7-playlog",
            )
        if self._shape is None:
            self._shape = await self._ensure_table(self._connection)
        return self._connection, self._shape

    async def _ensure_table(self, connection: psycopg.AsyncConnection[Any]) -> TableShape:
        """Create the table if missing (once across instances), then read its columns."""
        table_text = self._table.as_string(connection)
        async with connection.transaction():
            create_key = play_lock_key(self.table_name, "", "", "create table")
            await connection.execute("SELECT pg_advisory_xact_lock(%s)", [create_key])
            cursor = await connection.execute("SELECT to_regclass(%s)", [table_text])
            found = await cursor.fetchone()
            if found is None or found[0] is None:
                await connection.execute(sql.SQL(CREATE_TABLE_SQL).format(table=self._table))
                logger.info("[PLAYLOG] created table %s", self.table_name)
        schema, name = split_table_name(self.table_name)
        cursor = await connection.execute(SHAPE_QUERY, {"schema": schema, "name": name})
        widths = {str(row[0]): row[1] for row in await cursor.fetchall()}
        return TableShape(widths)

    async def _discard_connection(self) -> None:
        connection, self._connection, self._shape = self._connection, None, None
        if connection is not None and not connection.closed:
            try:
                await connection.close()
            except (psycopg.Error, OSError):
                pass

    async def aclose(self) -> None:
        await self._discard_connection()


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
