"""Catalog tables as `create_all` made them before the catalog was under Alembic.

Revision ID: c0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_tracks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("artist", sa.String(500), nullable=False),
        sa.Column("isrc", sa.String(32), nullable=True),
        sa.Column("label", sa.String(255), nullable=True),
        sa.Column("genre", sa.String(255), nullable=True),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("source_path", sa.Text, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("hash_count", sa.Integer, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "catalog_hashes",
        sa.Column("hash", sa.Integer, nullable=False),
        sa.Column(
            "track_id",
            sa.Integer,
            sa.ForeignKey("catalog_tracks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("frame", sa.Integer, nullable=False),
    )
    op.create_index("ix_catalog_hashes_hash", "catalog_hashes", ["hash"])


def downgrade() -> None:
    op.drop_table("catalog_hashes")
    op.drop_table("catalog_tracks")
