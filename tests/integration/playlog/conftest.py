"""music_log fixtures: a fresh PostgreSQL database per test, as a libpq connection string."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.integration.playlog.tcp_proxy import SwitchableProxy


def libpq_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def music_db(pg_url: str) -> str:
    """A fresh, empty database (libpq URL) for music_log."""
    return libpq_url(pg_url)


@pytest.fixture
async def proxy(music_db: str) -> AsyncIterator[SwitchableProxy]:
    """A switchable TCP proxy in front of the test PostgreSQL server (switched on)."""
    parts = urlsplit(music_db)
    running = SwitchableProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await running.switch_on()
    yield running
    await running.switch_off()


def through(proxy: SwitchableProxy, music_db: str) -> str:
    """The database's URL, reached through `proxy`."""
    parts = urlsplit(music_db)
    return parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}").geturl()


def rows(music_db: str, query: str = "") -> list[tuple[Any, ...]]:
    sql = query or (
        "SELECT name, artist, song_title, date, time, identified_by FROM music_log "
        "ORDER BY date, time, id"
    )
    with psycopg.connect(music_db) as connection:
        return connection.execute(sql).fetchall()


def execute(music_db: str, statement: str) -> None:
    with psycopg.connect(music_db, autocommit=True) as connection:
        connection.execute(statement)
