"""Bring a catalog database to the newest catalog revision (Alembic, own version table).

A catalog created before the catalog was under Alembic (tables present, no version table) is
stamped at the first revision, which describes exactly those tables, and then upgraded.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, inspect, text

from fingerv7.alembic_lock import ALEMBIC_LOCK
from fingerv7.catalog.schema import CATALOG_VERSION_TABLE

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
FIRST_REVISION = "c0001"
# Not the orchestrator's key: the two chains may be upgraded at the same time.
CATALOG_MIGRATION_LOCK_KEY = 0x46563743415441  # "FV7CATA"


def catalog_alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade_catalog(engine: Engine) -> None:
    """Migrate the catalog tables to head (idempotent; serialised by an advisory lock on
    PostgreSQL so that a worker and `catalog add` starting together do not race, and by
    `ALEMBIC_LOCK` within a process)."""
    with ALEMBIC_LOCK, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": CATALOG_MIGRATION_LOCK_KEY}
            )
        config = catalog_alembic_config(connection)
        tables = set(inspect(connection).get_table_names())
        if "catalog_tracks" in tables and CATALOG_VERSION_TABLE not in tables:
            command.stamp(config, FIRST_REVISION)
        command.upgrade(config, "head")
