"""Where the catalog lives: a SQLAlchemy URL from `DATABASE_URL`, SQLite file by default."""

from __future__ import annotations

from pydantic import SecretStr
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection

from fingerv7.settings import FingerV7Settings
from fingerv7.storage.database_url import DEFAULT_DATABASE_URL

__all__ = [
    "DEFAULT_DATABASE_URL",
    "CatalogDatabaseSettings",
    "create_catalog_engine",
    "normalise_database_url",
]


class CatalogDatabaseSettings(FingerV7Settings):
    """`DATABASE_URL` as the catalog commands read it from the environment; unset or empty, the
    orchestrator's default too (`fingerv7.db` in the current directory)."""

    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)


def normalise_database_url(url: str) -> str:
    """Accept libpq-style `postgresql://` / `postgres://` URLs and select the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_catalog_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets foreign keys enforced and a busy timeout."""
    engine = create_engine(normalise_database_url(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: DBAPIConnection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.close()
