"""One clock for every orchestrator process: the database's.

Liveness compares when an instance was last heard with "now"; replicas on different hosts have
different wall clocks, so both sides of that comparison come from the database (PostgreSQL's
`now()`). SQLite serves one process, whose clock is the database's clock by definition.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Float, cast, func, literal
from sqlalchemy.engine import Dialect

from fingerv7.storage.schema import UtcDateTime


def is_postgresql(dialect: Dialect) -> bool:
    return dialect.name == "postgresql"


def database_now(dialect: Dialect, offset_s: float = 0.0) -> ColumnElement[datetime]:
    """The database's current time, shifted by `offset_s` seconds."""
    if is_postgresql(dialect):
        now: ColumnElement[datetime] = func.now()
        return now + literal(timedelta(seconds=offset_s)) if offset_s else now
    return literal(datetime.now(UTC) + timedelta(seconds=offset_s), UtcDateTime)


def seconds_since(column: ColumnElement[datetime], dialect: Dialect) -> ColumnElement[float]:
    """Seconds between `column` and the database's now (positive for the past)."""
    if is_postgresql(dialect):
        return cast(func.extract("epoch", func.now() - column), Float)
    return cast((func.julianday("now") - func.julianday(column)) * 86400.0, Float)
