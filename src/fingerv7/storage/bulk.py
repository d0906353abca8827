"""Statements over many rows that stay fast and legal at fleet size on both backends.

`IN (...)` with 100,000 ids is 100,000 bind parameters (SQLite refuses more than 32,766): on
PostgreSQL we pass one array (`= ANY(:ids)`), on SQLite we chunk. Upserts use each dialect's
`ON CONFLICT DO UPDATE`, so a row is written once instead of deleted and inserted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BigInteger, Column, String, Table, any_, bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from fingerv7.storage.clock import is_postgresql

SQLITE_CHUNK = 10_000


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def id_filter(conn: AsyncConnection, column: Column[Any], ids: Sequence[Any]) -> list[Any]:
    """WHERE clauses that together select `column IN ids` (one on PostgreSQL, chunks on SQLite)."""
    if is_postgresql(conn.dialect):
        element = BigInteger() if isinstance(column.type, BigInteger) else String()
        return [column == any_(bindparam("ids", list(ids), type_=ARRAY(element)))]
    return [column.in_(list(chunk)) for chunk in _chunks(ids, SQLITE_CHUNK)]


async def delete_ids(
    conn: AsyncConnection, table: Table, column: Column[Any], ids: Sequence[Any]
) -> None:
    if not ids:
        return
    for clause in id_filter(conn, column, ids):
        await conn.execute(delete(table).where(clause))


async def upsert(
    conn: AsyncConnection, table: Table, key: str, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert `rows`, replacing every other column of a row whose `key` already exists."""
    if not rows:
        return
    dialect_insert = postgresql.insert if is_postgresql(conn.dialect) else sqlite.insert
    for chunk in _chunks(rows, SQLITE_CHUNK):
        statement = dialect_insert(table)
        replaced = {name: statement.excluded[name] for name in chunk[0] if name != key}
        await conn.execute(
            statement.on_conflict_do_update(index_elements=[key], set_=replaced), list(chunk)
        )
