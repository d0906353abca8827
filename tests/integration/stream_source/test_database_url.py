"""DATABASE_URL as users write it -> the async URL the engine needs, and a safe description."""

from __future__ import annotations

import pytest
from sqlalchemy import URL

from fingerv7.storage.database_url import describe_url, to_async_url


@pytest.mark.parametrize(
    ("written", "driver"),
    [
        ("postgresql://u:p@db.example:6543/orch", "postgresql+psycopg"),
        ("postgres://u:p@db.example/orch", "postgresql+psycopg"),
        ("postgresql+psycopg2://u:p@db.example/orch", "postgresql+psycopg"),
        ("postgresql+psycopg://u:p@db.example/orch", "postgresql+psycopg"),
        ("postgresql+asyncpg://u:p@db.example/orch", "postgresql+asyncpg"),
        ("sqlite:///./fingerv7.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:////var/lib/fingerv7.db", "sqlite+aiosqlite"),
    ],
)
def test_sync_urls_get_an_async_driver(written: str, driver: str) -> None:
    assert to_async_url(written).drivername == driver


def test_password_with_special_characters_survives() -> None:
    url = to_async_url("postgresql://orch:p%40ss%2Fw%3Ard@db.example:5432/orch")

    assert (url.username, url.password, url.host, url.port) == (
        "orch",
        "p@ss/w:rd",
        "db.example",
        5432,
    )


def test_relative_sqlite_path_is_kept() -> None:
    assert to_async_url("sqlite:///./fingerv7.db").database == "./fingerv7.db"


def test_unsupported_or_garbage_urls_are_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        to_async_url("mysql://root:hunter2@db/x")
    with pytest.raises(ValueError, match="not a valid database URL") as raised:
        to_async_url("hunter2 is not a url")
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "described"),
    [
        ("postgresql://orch:hunter2@db.example:6543/orch", "postgresql://db.example:6543/orch"),
        ("postgres://orch:hunter2@db.example/orch", "postgresql://db.example:5432/orch"),
        ("postgresql://db.example/orch?password=hunter2", "postgresql://db.example:5432/orch"),
        ("sqlite+aiosqlite:///./fingerv7.db", "sqlite:///./fingerv7.db"),
        ("not a url hunter2", "<invalid database URL>"),
        (
            URL.create("postgresql+psycopg", "orch", "hunter2", "10.1.2.3", 5432, "music_log"),
            "postgresql://10.1.2.3:5432/music_log",
        ),
    ],
)
def test_description_has_no_credentials(url: str | URL, described: str) -> None:
    assert describe_url(url) == described
