"""Exactly one process runs the monitor: a PostgreSQL advisory lock held by the leader.

The lock lives as long as the leader's dedicated connection: if that process dies or loses its
connection, PostgreSQL releases it and another process takes over. No lock rows that can be
orphaned. SQLite is single-process by design, so its leadership is trivially local.
"""

from __future__ import annotations

import logging
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("fingerv7.orchestrator")

# Any constant shared by all orchestrator processes of one database; "FV7ORCH" in ASCII.
ADVISORY_LOCK_KEY = 0x4656374F524348


class Leadership(Protocol):
    async def try_acquire(self) -> bool: ...

    async def still_held(self) -> bool: ...

    async def release(self) -> None: ...


class LocalLeadership:
    """SQLite: one orchestrator process, always the leader."""

    async def try_acquire(self) -> bool:
        return True

    async def still_held(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class AdvisoryLockLeadership:
    """PostgreSQL: session-level advisory lock on a connection kept for that purpose."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def try_acquire(self) -> bool:
        if self._connection is None:
            self._connection = await self._engine.connect()
        try:
            acquired = (
                await self._connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
            ).scalar_one()
            await self._connection.commit()
        except Exception:
            await self._drop_connection()
            raise
        return bool(acquired)

    async def still_held(self) -> bool:
        if self._connection is None:
            return False
        try:
            held = (
                await self._connection.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND pid = pg_backend_pid() AND granted"
                    )
                )
            ).scalar_one()
            await self._connection.commit()
        except Exception:
            log.warning("[ERROR] [BALANCE] lost the leader connection; stepping down")
            await self._drop_connection()
            return False
        return bool(held)

    async def release(self) -> None:
        if self._connection is None:
            return
        try:
            await self._connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
            )
            await self._connection.commit()
        finally:
            await self._drop_connection()

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # the connection is already broken; nothing left to release
                log.debug("closing a broken leader connection failed", exc_info=True)


def leadership_for(engine: AsyncEngine) -> Leadership:
    if engine.dialect.name == "postgresql":
        return AdvisoryLockLeadership(engine)
    return LocalLeadership()
