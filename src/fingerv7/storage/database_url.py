"""Database URLs as users write them, turned into what the async engine needs.

Users paste `postgresql://user:pass@host/db` (or Heroku's `postgres://`) and `sqlite:///file.db`;
SQLAlchemy's async engine needs an async driver named in the URL. Everything printed about a URL
goes through :func:`describe_url`, which never shows a user name, password or query string.
"""

from __future__ import annotations

from sqlalchemy import URL
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

POSTGRESQL_ASYNC_DRIVER = "psycopg"
SQLITE_ASYNC_DRIVER = "aiosqlite"
_ASYNC_POSTGRESQL_DRIVERS = frozenset({"psycopg", "psycopg_async", "asyncpg"})
_DEFAULT_PORTS = {"postgresql": 5432}
# DATABASE_URL when unset, for the orchestrator and the catalog alike: an embedded SQLite file in
# the working folder.
DEFAULT_DATABASE_URL = "sqlite:///./fingerv7.db"
_URL_EXAMPLES = f"postgresql://user:password@host:5432/dbname or {DEFAULT_DATABASE_URL}"


def to_async_url(url: str | URL) -> URL:
    """Return `url` with an async driver: `postgresql+psycopg` or `sqlite+aiosqlite`.

    Raises ValueError (whose message never contains the URL, which may hold a password) when the
    text is not a database URL or names a database other than PostgreSQL or SQLite.
    """
    parsed = _parse(url)
    # Split the name by hand: get_driver_name() imports the default DBAPI, which may be absent.
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        if backend == "postgresql" and driver in _ASYNC_POSTGRESQL_DRIVERS:
            return parsed
        return parsed.set(drivername=f"postgresql+{POSTGRESQL_ASYNC_DRIVER}")
    if backend == "sqlite":
        return parsed.set(drivername=f"sqlite+{SQLITE_ASYNC_DRIVER}")
    raise ValueError(
        f"unsupported database '{backend}': FingerV7 stores its state in PostgreSQL or SQLite "
        f"(for example {_URL_EXAMPLES})"
    )


def describe_url(url: str | URL) -> str:
    """A credential-free description for logs and `/health`: `postgresql://host:5432/db`.

    The user name, password and query string (which may carry `password=`) are dropped.
    """
    try:
        parsed = _parse(url)
    except ValueError:
        return "<invalid database URL>"
    backend = parsed.drivername.partition("+")[0]
    if backend == "postgres":
        backend = "postgresql"
    if backend == "sqlite":
        return f"sqlite:///{parsed.database or ':memory:'}"
    host = parsed.host or ""
    port = parsed.port or _DEFAULT_PORTS.get(backend)
    address = f"{host}:{port}" if host and port else host
    return f"{backend}://{address}/{parsed.database or ''}"


def _parse(url: str | URL) -> URL:
    if isinstance(url, URL):
        return url
    text = url.strip()
    try:
        return make_url(text)
    except (ArgumentError, ValueError):
        raise ValueError(
            f"not a valid database URL (expected something like {_URL_EXAMPLES})"
        ) from None
