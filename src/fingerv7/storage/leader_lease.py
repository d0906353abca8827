"""The leader's lease and fencing token, kept in the fleet row (Patroni's leader key, in SQL).

Whoever finds the lease free (expired, released, or held by a PostgreSQL session that no longer
exists) takes it and bumps `leader_epoch`. The holder renews it well before it expires. Every
leader write checks, in its own transaction, that the epoch is still its own and the lease still
valid (:func:`fence_clause`), so a leader that stalled (GC pause, SIGSTOP, lost connection) while
another took over can never commit: its transaction is rejected, not merged.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Dialect,
    Executable,
    and_,
    column,
    exists,
    func,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fingerv7.storage import schema
from fingerv7.storage.clock import database_now, is_postgresql

log = logging.getLogger("fingerv7.orchestrator")

_activity = table("pg_stat_activity", column("pid"))


class LeaderLease:
    """Acquire, renew and release the lease; `epoch` is the fencing token while held."""

    def __init__(self, engine: AsyncEngine, holder_id: str, ttl_s: float) -> None:
        self._engine = engine
        self._holder_id = holder_id
        self._ttl_s = ttl_s
        self._connection: AsyncConnection | None = None
        self.epoch: int | None = None

    @property
    def ttl_s(self) -> float:
        return self._ttl_s

    async def try_acquire(self) -> int | None:
        """Take the lease if it is free; the new epoch, or None when someone else holds it."""
        f = schema.fleet_state
        dialect = self._engine.dialect
        free: ColumnElement[bool] = or_(
            f.c.lease_expires_at.is_(None), f.c.lease_expires_at < database_now(dialect)
        )
        values: dict[str, object] = {
            "leader_epoch": f.c.leader_epoch + 1,
            "leader_id": self._holder_id,
            "leader_since": database_now(dialect),
            "lease_expires_at": database_now(dialect, self._ttl_s),
        }
        if is_postgresql(dialect):
            # A leader whose session is gone (process killed) frees the lease at once.
            orphaned = and_(
                f.c.leader_backend_pid.is_not(None),
                ~exists().where(_activity.c.pid == f.c.leader_backend_pid),
            )
            free = or_(free, orphaned)
            values["leader_backend_pid"] = func.pg_backend_pid()
        statement = (
            update(f)
            .where(f.c.id == schema.FLEET_ROW_ID, free)
            .values(**values)
            .returning(f.c.leader_epoch)
        )
        epoch = await self._execute(statement)
        self.epoch = None if epoch is None else int(epoch)
        return self.epoch

    async def renew(self) -> bool:
        """Extend the lease; False when another process took it (our epoch is gone)."""
        if self.epoch is None:
            return False
        f = schema.fleet_state
        dialect = self._engine.dialect
        values: dict[str, object] = {"lease_expires_at": database_now(dialect, self._ttl_s)}
        if is_postgresql(dialect):
            values["leader_backend_pid"] = func.pg_backend_pid()
        statement = (
            update(f)
            .where(f.c.id == schema.FLEET_ROW_ID, f.c.leader_epoch == self.epoch)
            .values(**values)
            .returning(f.c.leader_epoch)
        )
        if await self._execute(statement) is None:
            self.epoch = None
            return False
        return True

    async def release(self) -> None:
        """Give the lease up now (clean shutdown), so a follower takes over without waiting."""
        if self.epoch is None:
            await self._close()
            return
        f = schema.fleet_state
        statement = (
            update(f)
            .where(f.c.id == schema.FLEET_ROW_ID, f.c.leader_epoch == self.epoch)
            .values(lease_expires_at=None, leader_backend_pid=None)
            .returning(f.c.leader_epoch)
        )
        self.epoch = None
        try:
            await self._execute(statement)
        finally:
            await self._close()

    async def _execute(self, statement: Executable) -> int | None:
        """Run one statement on the lease's own connection (a stable backend pid).

        The connection autocommits: each statement commits as it runs, so no lock on the fleet
        row outlives it. With a separate COMMIT, a leader frozen between its renewal and that
        commit (four times per lease) kept every takeover waiting until PostgreSQL ended its
        idle transaction (10 s or more)."""
        if self._connection is None:
            connection = await self._engine.connect()
            self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            result = await self._connection.execute(statement)
            value = result.scalar_one_or_none()
        except Exception:
            await self._close()
            raise
        return None if value is None else int(value)

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # already broken: nothing left to release
                log.debug("closing the lease connection failed", exc_info=True)


def fence_clause(epoch: int, dialect: Dialect) -> ColumnElement[bool]:
    """True only for the lease holder of `epoch` while its lease is valid (inside its write)."""
    f = schema.fleet_state
    return and_(
        f.c.leader_epoch == epoch,
        f.c.lease_expires_at.is_not(None),
        f.c.lease_expires_at > database_now(dialect),
    )


async def current_leader(engine: AsyncEngine) -> tuple[str | None, int, datetime | None]:
    """(leader_id, epoch, lease_expires_at) as stored, for /health and tests."""
    f = schema.fleet_state
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(f.c.leader_id, f.c.leader_epoch, f.c.lease_expires_at).where(
                    f.c.id == schema.FLEET_ROW_ID
                )
            )
        ).one()
    return row[0], int(row[1]), row[2]
