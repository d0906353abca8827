"""When the source cannot be read: clear errors without secrets, no hang, recovery by itself."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from fingerv7.storage.stream_source import (
    SqlStreamSource,
    StreamSourceError,
    build_source_engine,
)

from .conftest import SourceDatabase

SECRET_PASSWORD = "s3cr3t-P@ss/w%rd:x"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def make_simple_table(database: SourceDatabase) -> None:
    await database.run(
        "CREATE TABLE streams (id INTEGER PRIMARY KEY, url TEXT, name TEXT)",
        "INSERT INTO streams VALUES (1, 'https://one.example/', 'One'), "
        "(2, 'https://two.example/', 'Two')",
    )


async def test_missing_table_is_named_with_its_database(source_database: SourceDatabase) -> None:
    source = SqlStreamSource(source_database.engine, "radios")
    database_name = make_url(source_database.url).database or ""

    with pytest.raises(StreamSourceError) as raised:
        await source.load()

    assert f"table 'radios' not found in database '{database_name}'" in str(raised.value)


async def test_table_without_url_column_says_so(source_database: SourceDatabase) -> None:
    await source_database.run("CREATE TABLE streams (id INTEGER, link TEXT, name TEXT)")

    with pytest.raises(StreamSourceError, match="has no 'url' column") as raised:
        await SqlStreamSource(source_database.engine).load()

    assert "link" in str(raised.value)  # lists the columns it did find


async def test_table_changes_are_followed_without_a_new_source(
    source_database: SourceDatabase,
) -> None:
    await make_simple_table(source_database)
    source = SqlStreamSource(source_database.engine)
    assert [stream.metadata for stream in await source.load()] == [{}, {}]

    await source_database.run(
        "ALTER TABLE streams ADD COLUMN regiao TEXT",
        "UPDATE streams SET regiao = 'Sul' WHERE id = 1",
    )
    streams = await source.load()
    assert [stream.region for stream in streams] == ["Sul", None]

    await source_database.run("ALTER TABLE streams RENAME COLUMN url TO link")
    with pytest.raises(StreamSourceError, match="has no 'url' column"):
        await source.load()

    await source_database.run("DROP TABLE streams")
    with pytest.raises(StreamSourceError, match="not found"):
        await source.load()

    await make_simple_table(source_database)
    assert [stream.id for stream in await source.load()] == [1, 2]


async def test_unreachable_postgresql_is_a_clear_error_without_the_password() -> None:
    port = closed_port()
    engine = build_source_engine(
        "127.0.0.1", port, "music_log", "radio_reader", SECRET_PASSWORD, connect_timeout_s=2
    )
    source = SqlStreamSource(engine)
    try:
        with pytest.raises(StreamSourceError) as load_error:
            await source.load()
        with pytest.raises(StreamSourceError) as ping_error:
            await source.ping()
    finally:
        await engine.dispose()

    for error in (load_error.value, ping_error.value):
        message = str(error)
        assert message.startswith(f"cannot connect to postgresql://127.0.0.1:{port}/music_log")
        assert SECRET_PASSWORD not in message
        assert "radio_reader" not in message
        assert error.__cause__ is None  # the driver's exception is not chained into tracebacks


async def test_unopenable_sqlite_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "streams.db"
    engine = create_async_engine(f"sqlite+aiosqlite:///{missing}")
    try:
        with pytest.raises(StreamSourceError, match=r"cannot connect to sqlite:///.*no-such-dir"):
            await SqlStreamSource(engine).load()
    finally:
        await engine.dispose()
        await aiosqlite_threads_finished()


async def aiosqlite_threads_finished(deadline_s: float = 10.0) -> None:
    """Wait for aiosqlite's worker threads to end while this test's event loop still runs.

    After a failed connect aiosqlite stops its thread without awaiting it; if the loop closed
    first, the thread would raise "Event loop is closed" into the next test.
    """
    deadline = time.monotonic() + deadline_s
    while any("_connection_worker_thread" in thread.name for thread in threading.enumerate()):
        assert time.monotonic() < deadline, "aiosqlite worker thread did not stop"
        await asyncio.sleep(0.01)


@pytest.mark.integration
async def test_locked_table_times_out_instead_of_hanging(pg_url: str) -> None:
    engine = create_async_engine(pg_url)
    database = SourceDatabase(engine=engine, url=pg_url, dialect="postgresql")
    await make_simple_table(database)
    source = SqlStreamSource(engine, statement_timeout_s=0.5)
    conninfo = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        async with await psycopg.AsyncConnection.connect(conninfo) as locker:
            await locker.execute("LOCK TABLE streams IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            with pytest.raises(StreamSourceError, match="statement timeout"):
                await asyncio.wait_for(source.load(), timeout=30)
            assert time.monotonic() - started < 10
            await locker.rollback()
        assert [stream.id for stream in await source.load()] == [1, 2]
    finally:
        await engine.dispose()


@pytest.fixture
def reader_role(pg_url: str) -> Iterator[str]:
    """A PostgreSQL login role with a password, allowed to read the test database; dropped after."""
    role = f"fv7_reader_{uuid.uuid4().hex[:8]}"
    admin = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET_PASSWORD}'")
        connection.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        connection.execute(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {role}"
        )
    yield role
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP OWNED BY {role}")
        connection.execute(f"DROP ROLE {role}")


@pytest.mark.integration
async def test_description_and_errors_never_show_user_or_password(
    pg_url: str, reader_role: str
) -> None:
    admin_engine = create_async_engine(pg_url)
    await make_simple_table(SourceDatabase(engine=admin_engine, url=pg_url, dialect="postgresql"))
    await admin_engine.dispose()
    database_name = make_url(pg_url).database or ""
    engine = build_source_engine("127.0.0.1", 5432, database_name, reader_role, SECRET_PASSWORD)
    try:
        assert engine.url.password == SECRET_PASSWORD  # special characters survive intact
        source = SqlStreamSource(engine)
        assert source.description == f"postgresql://127.0.0.1:5432/{database_name} table streams"
        assert [stream.id for stream in await source.load()] == [1, 2]
        assert 0 < await source.ping() < 5
        with pytest.raises(StreamSourceError) as raised:
            await SqlStreamSource(engine, "missing_table").load()
    finally:
        await engine.dispose()

    message = str(raised.value)
    assert "not found" in message
    assert SECRET_PASSWORD not in message
    assert reader_role not in message
