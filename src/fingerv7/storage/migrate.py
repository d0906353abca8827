"""Apply the Alembic migrations shipped inside the package (`fingerv7 migrate`, RUN_MIGRATIONS)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, make_url

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


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
    """Bring the database schema to the newest revision (idempotent)."""
    command.upgrade(alembic_config(url), "head")
