"""Alembic environment of the catalog: its own script location and version table, so the catalog
can share a database with the orchestrator (or live in its own, CATALOG_DATABASE_URL) without its
revisions ever mixing with the orchestrator's chain in `fingerv7/storage/migrations`."""

from __future__ import annotations

from alembic import context

from fingerv7.catalog.schema import CATALOG_VERSION_TABLE, catalog_metadata

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=catalog_metadata,
    version_table=CATALOG_VERSION_TABLE,
    # Only the catalog's tables: autogenerate must not see the orchestrator's as "removed".
    include_name=lambda name, type_, _parent: type_ != "table" or name in catalog_metadata.tables,
)
with context.begin_transaction():
    context.run_migrations()
