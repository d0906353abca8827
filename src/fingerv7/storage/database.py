"""Engines for the orchestrator's own database, with the discipline the original lacked.

PostgreSQL: every session gets `statement_timeout` and `lock_timeout`, so nothing waits forever on
a lock; transactions are short and retried with backoff on serialization failures and deadlocks.
SQLite: WAL mode and a busy timeout, one process.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import URL, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from fingerv7.storage.database_url import to_async_url

T = TypeVar("T")

STATEMENT_TIMEOUT_MS = 10_000
LOCK_TIMEOUT_MS = 3_000
IDLE_IN_TRANSACTION_S = 10.0
RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock not available


def create_engine(
    url: str | URL,
    *,
    pool_size: int = 5,
    pool_timeout_s: float = 30.0,
    idle_in_transaction_s: float = IDLE_IN_TRANSACTION_S,
) -> AsyncEngine:
    """An async engine configured for the orchestrator's short-transaction workload.

    A process that stalls inside a transaction (GC pause, SIGSTOP) would keep its row locks and
    block everyone, the new leader included: PostgreSQL ends such a session after
    `idle_in_transaction_s`, which also aborts the stalled writer's transaction.
    """
    async_url = to_async_url(url)
    if async_url.get_backend_name() == "sqlite":
        engine = create_async_engine(async_url, connect_args={"timeout": 15})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    options = (
        f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS} "
        f"-c idle_in_transaction_session_timeout={int(idle_in_transaction_s * 1000)}"
    )
    return create_async_engine(
        async_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout_s,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"options": options, "connect_timeout": 5, "application_name": "fingerv7"},
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def is_retryable(error: BaseException) -> bool:
    """Transient conflicts worth retrying: serialization, deadlock, lock timeouts, SQLite busy."""
    if isinstance(error, DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None)
        if sqlstate in RETRYABLE_SQLSTATES:
            return True
        if isinstance(error, OperationalError) and "database is locked" in str(error.orig):
            return True
    return False


async def retrying(
    operation: Callable[[], Awaitable[T]], *, attempts: int = 5, base_delay_s: float = 0.05
) -> T:
    """Run `operation` (one whole transaction), retrying transient conflicts with backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return await operation()
        except DBAPIError as error:
            if attempt == attempts or not is_retryable(error):
                raise
            await asyncio.sleep(base_delay_s * 2 ** (attempt - 1) * (0.5 + random.random()))
    raise AssertionError("unreachable")


async def ping(engine: AsyncEngine) -> float:
    """Round-trip time of a trivial query, in seconds (raises when the database is away)."""
    started = time.perf_counter()
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    return time.perf_counter() - started
