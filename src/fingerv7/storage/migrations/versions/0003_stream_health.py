"""Stream health: the latest state of each stream and the problems each worker reports.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fingerv7.storage.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "stream_health",
        sa.Column("stream_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("instance_id", ID, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", UtcDateTime),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "instance_health",
        sa.Column("instance_id", ID, primary_key=True),
        sa.Column("processor", sa.String(32)),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("instance_health")
    op.drop_table("stream_health")
