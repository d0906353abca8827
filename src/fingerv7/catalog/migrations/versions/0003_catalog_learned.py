"""Songs the catalog learned from fallback recognizers (catalog/learning.py).

Revision ID: c0003
Revises: c0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0003"
down_revision = "c0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_learned",
        sa.Column("track_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("song_key", sa.String(600), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("stream_id", sa.Integer, nullable=True),
        sa.Column("song_offset_s", sa.Float, nullable=True),
        sa.Column("song_duration_s", sa.Float, nullable=True),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column(
            "learned_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("ix_catalog_learned_song_key", "catalog_learned", ["song_key"])


def downgrade() -> None:
    op.drop_index("ix_catalog_learned_song_key", table_name="catalog_learned")
    op.drop_table("catalog_learned")
