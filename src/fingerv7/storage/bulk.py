"""Statements over many rows that stay fast and legal at fleet size on both backends.

`IN (...)` with 100,000 ids is 100,000 bind parameters (SQLite refuses more than 32,766): on
PostgreSQL we pass one array (`= ANY(:ids)`), on SQLite we chunk. Upserts use each dialect's
`ON CONFLICT DO UPDATE`, so a row is written once instead of deleted and inserted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    TypeDecorator,
    any_,
    bindparam,
    delete,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

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
    conn: AsyncConnection,
    table: Table,
    key: str,
    rows: Sequence[dict[str, Any]],
    *,
    constants: Mapping[str, Any] | None = None,
) -> None:
    """Insert `rows`, replacing every other column of a row whose `key` already exists.
    `constants`: columns with the same value in every row (see `insert_rows`)."""
    if not rows:
        return
    if is_postgresql(conn.dialect):
        await insert_rows(conn, table, rows, replace_on=key, constants=constants)
        return
    if constants:
        rows = [{**row, **constants} for row in rows]
    dialect_insert = sqlite.insert
    for chunk in _chunks(rows, SQLITE_CHUNK):
        statement = dialect_insert(table)
        replaced = {name: statement.excluded[name] for name in chunk[0] if name != key}
        await conn.execute(
            statement.on_conflict_do_update(index_elements=[key], set_=replaced), list(chunk)
        )


_PG_ARRAY_TYPES: tuple[tuple[type[TypeEngine[Any]], str], ...] = (
    (BigInteger, "bigint"),
    (Integer, "integer"),
    (Float, "float8"),
    (Boolean, "boolean"),
    (DateTime, "timestamptz"),
)


def _pg_element(column: Column[Any]) -> tuple[str, bool]:
    """(PostgreSQL element type of the array that carries `column`, whether it is JSON)."""
    column_type = column.type
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, JSON):
        return "text", True
    for python_type, name in _PG_ARRAY_TYPES:
        if isinstance(column_type, python_type):
            return name, False
    return "text", False


async def insert_rows(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    replace_on: str | None = None,
    constants: Mapping[str, Any] | None = None,
) -> None:
    """PostgreSQL: many rows in ONE statement (`INSERT ... SELECT FROM unnest(arrays)`).

    One statement, one round trip: never a pipeline of thousands of parameter sets. Besides
    being faster, this matters for fencing: a writer paused between two statements is "idle in
    transaction" and PostgreSQL ends it (and frees its locks) after the session's timeout, while
    a writer paused in the middle of a pipeline would hold its locks until it woke up.

    The arrays travel in PostgreSQL's binary format (`%(name)b`): psycopg renders a 100,000-
    element array of timestamps as text in 0.8 s of Python, in binary in 0.08 s. `constants`
    are columns with one value for every row (a tick's time, generation, epoch): sent once, as
    a scalar, instead of as an array repeating it.
    """
    if not rows:
        return
    constants = constants or {}
    names = [*rows[0], *constants]
    arrays, columns, selects, parameters = [], [], [], {}
    for number, name in enumerate(names):
        element, is_json = _pg_element(table.c[name])
        if name in constants:
            value = constants[name]
            parameters[f"p{number}"] = json.dumps(value) if is_json else value
            selects.append(f"CAST(%(p{number})s AS {element})" + ("::json" if is_json else ""))
            continue
        values = [row[name] for row in rows]
        if is_json:
            values = [None if v is None else json.dumps(v) for v in values]
        parameters[f"p{number}"] = values
        arrays.append(f"CAST(%(p{number})b AS {element}[])")
        columns.append(f"c{number}")
        selects.append(f"v.c{number}::json" if is_json else f"v.c{number}")
    quoted = ", ".join(f'"{name}"' for name in names)
    statement = (
        f'INSERT INTO "{table.name}" ({quoted}) SELECT {", ".join(selects)} '
        f"FROM unnest({', '.join(arrays)}) AS v({', '.join(columns)})"
    )
    if replace_on is not None:
        replaced = ", ".join(f'"{n}" = EXCLUDED."{n}"' for n in names if n != replace_on)
        statement += f' ON CONFLICT ("{replace_on}") DO UPDATE SET {replaced}'
    # The driver's own placeholders (`b` asks for binary); SQLAlchemy still wraps its errors.
    await conn.exec_driver_sql(statement, parameters)
