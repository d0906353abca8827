"""Fleet scale: a fenced leader lease, report versions, the epoch that wrote each change.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fingerv7.storage.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as table:
        table.add_column(sa.Column("last_report_at", UtcDateTime))
        table.add_column(
            sa.Column("report_version", sa.BigInteger, nullable=False, server_default="0")
        )
    with op.batch_alter_table("stream_changes") as table:
        table.add_column(sa.Column("leader_epoch", sa.BigInteger))
    with op.batch_alter_table("fleet_state") as table:
        table.add_column(
            sa.Column("leader_epoch", sa.BigInteger, nullable=False, server_default="0")
        )
        table.add_column(sa.Column("lease_expires_at", UtcDateTime))
        table.add_column(sa.Column("leader_backend_pid", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("fleet_state") as table:
        table.drop_column("leader_backend_pid")
        table.drop_column("lease_expires_at")
        table.drop_column("leader_epoch")
    with op.batch_alter_table("stream_changes") as table:
        table.drop_column("leader_epoch")
    with op.batch_alter_table("instances") as table:
        table.drop_column("report_version")
        table.drop_column("last_report_at")
