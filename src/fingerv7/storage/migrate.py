"""Apply the Alembic migrations shipped inside the package (`fingerv7 migrate`, RUN_MIGRATIONS)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, create_engine, make_url, text
from sqlalchemy.pool import NullPool

from fingerv7.alembic_lock import ALEMBIC_LOCK

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATION_LOCK_KEY = 0x4656374D494752  # "FV7MIGR"


def _sync_url(url: str | URL) -> str:
    parsed = make_url(url) if isinstance(url, str) else url
    backend = parsed.get_backend_name()
    driver = {"postgresql": "postgresql+psycopg", "sqlite": "sqlite"}.get(backend)
    if driver is None:
        raise ValueError(f"unsupported database '{backend}'")
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def alembic_config(url: str | URL) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", _sync_url(url).replace("%", "%%"))
    return config


def upgrade_to_head(url: str | URL) -> None:
    """Bring the database schema to the newest revision (idempotent).

    On PostgreSQL the upgrade runs under a transaction-scoped advisory lock, so several
    orchestrator processes or replicas starting together migrate one after the other.
    """
    config = alembic_config(url)
    engine = create_engine(_sync_url(url), poolclass=NullPool)
    try:
        with ALEMBIC_LOCK, engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
