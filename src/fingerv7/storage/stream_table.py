"""The embedded default streams table: the manual's shape, kept in the orchestrator's own database.

`fingerv7 streams import` fills it and the orchestrator reads it through `SqlStreamSource` when
no external streams database is configured. Ids are always written explicitly (the import
assigns them), so the column has no sequence that could fall behind them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

EMBEDDED_STREAMS_TABLE_NAME = "streams"


def define_embedded_streams_table(metadata: MetaData) -> Table:
    """Add the `streams` table (manual's columns) to `metadata` and return it."""
    return Table(
        EMBEDDED_STREAMS_TABLE_NAME,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("url", Text, nullable=False),
        Column("name", Text, nullable=False),
        Column("status", Text, nullable=True),
        Column("assigned_to", Text, nullable=True),
        Column("last_check", DateTime(timezone=True), nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("metadata", JSON().with_variant(JSONB(), "postgresql"), nullable=True),
        Column("active", Boolean, nullable=False, server_default=true()),
    )
