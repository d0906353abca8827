"""Catalog tables: one row per track, and one row per track holding all its landmark hashes
(the main band's and the low band's, one blob each).

The tables live in their own `MetaData` and their own Alembic chain (catalog/migrations, version
table `catalog_alembic_version`), so the catalog can share the orchestrator's database or not.
A track's hashes are one compressed blob (catalog/fingerprint_blobs.py): the index is held in
memory, so the database never looks a hash up, and a blob costs about 3 bytes per hash where a row
per hash cost about 60.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
)

catalog_metadata = MetaData()
# The catalog's Alembic revisions are recorded here, apart from the orchestrator's.
CATALOG_VERSION_TABLE = "catalog_alembic_version"

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
    # CATALOG_FINGERPRINT_VERSION of the algorithm that made the track's hashes (revision c0004).
    Column("fingerprint_version", Integer, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

catalog_fingerprints = Table(
    "catalog_fingerprints",
    catalog_metadata,
    Column(
        "track_id",
        Integer,
        ForeignKey("catalog_tracks.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("entries", LargeBinary, nullable=False),
    # The low band's hashes (core/fingerprint/low_band.py), the same blob format; NULL only for
    # tracks a version before 5 made, which are stale anyway (revision c0005).
    Column("low_band_entries", LargeBinary, nullable=True),
)


def create_catalog_schema(engine: Engine) -> None:
    """Create or migrate the catalog tables to the newest revision (idempotent)."""
    from fingerv7.catalog.migrate import upgrade_catalog

    upgrade_catalog(engine)
