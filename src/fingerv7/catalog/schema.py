"""Catalog tables: one row per track, one row per landmark hash (looked up by hash).

The tables live in their own `MetaData` so the storage migrations can fold them in unchanged.
Hashes are plain `integer` columns with a B-tree on `hash`, identical on PostgreSQL and SQLite.
There is deliberately no index on `catalog_hashes.track_id`: it would grow storage per hour of
audio by about a third for the sake of `catalog remove`, a rare administrative action.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
)

catalog_metadata = MetaData()

catalog_tracks = Table(
    "catalog_tracks",
    catalog_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", String(500), nullable=False),
    Column("artist", String(500), nullable=False),
    Column("isrc", String(32), nullable=True),
    Column("label", String(255), nullable=True),
    Column("genre", String(255), nullable=True),
    Column("duration_s", Float, nullable=False),
    Column("source_path", Text, nullable=False),
    Column("content_sha256", String(64), nullable=False, unique=True),
    Column("hash_count", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

catalog_hashes = Table(
    "catalog_hashes",
    catalog_metadata,
    Column("hash", Integer, nullable=False),
    Column(
        "track_id",
        Integer,
        ForeignKey("catalog_tracks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("frame", Integer, nullable=False),
    Index("ix_catalog_hashes_hash", "hash"),
)


def create_catalog_schema(engine: Engine) -> None:
    """Create the catalog tables where missing (idempotent)."""
    catalog_metadata.create_all(engine)
