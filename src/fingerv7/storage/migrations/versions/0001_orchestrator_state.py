"""Orchestrator state: instances, streams, assignments, audit, fleet row, embedded streams.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from fingerv7.storage.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "instances",
        sa.Column("id", ID, primary_key=True),
        sa.Column("max_streams", sa.Integer, nullable=False),
        sa.Column("capabilities", sa.JSON, nullable=False),
        sa.Column("version", sa.String(64)),
        sa.Column("location", sa.String(128)),
        sa.Column("performance_score", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("draining", sa.Boolean, nullable=False),
        sa.Column("deregistered", sa.Boolean, nullable=False),
        sa.Column("registered_at", UtcDateTime, nullable=False),
        sa.Column("last_seen_at", UtcDateTime, nullable=False),
        sa.Column("state_changed_at", UtcDateTime, nullable=False),
        sa.Column("heartbeat_count", sa.BigInteger, nullable=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("applied_generation", sa.BigInteger, nullable=False),
        sa.Column("reported_stream_ids", sa.JSON, nullable=False),
        sa.Column("stats", sa.JSON, nullable=False),
    )
    op.create_table(
        "monitored_streams",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("stream_metadata", sa.JSON, nullable=False),
        sa.Column("region", sa.String(128)),
        sa.Column("synced_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "assignments",
        sa.Column("stream_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("target", ID),
        sa.Column("holder", ID),
        sa.Column("revoked_generation", sa.BigInteger),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_assignments_holder", "assignments", ["holder"])
    op.create_index("ix_assignments_target", "assignments", ["target"])
    op.create_table(
        "stream_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("changed_at", UtcDateTime, nullable=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("stream_id", sa.BigInteger, nullable=False),
        sa.Column("from_instance", ID),
        sa.Column("to_instance", ID),
        sa.Column("reason", sa.String(32), nullable=False),
    )
    op.create_index("ix_stream_changes_changed_at", "stream_changes", ["changed_at"])
    fleet = op.create_table(
        "fleet_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("last_rebalance_at", UtcDateTime),
        sa.Column("rebalance_requested_at", UtcDateTime),
        sa.Column("rebalances_automatic", sa.BigInteger, nullable=False),
        sa.Column("rebalances_manual", sa.BigInteger, nullable=False),
        sa.Column("source_status", sa.String(16), nullable=False),
        sa.Column("source_error", sa.Text),
        sa.Column("source_checked_at", UtcDateTime),
        sa.Column("leader_id", sa.String(128)),
        sa.Column("leader_since", UtcDateTime),
    )
    op.bulk_insert(
        fleet,
        [
            {
                "id": 1,
                "generation": 0,
                "rebalances_automatic": 0,
                "rebalances_manual": 0,
                "source_status": "unknown",
            }
        ],
    )
    # The embedded default's streams table, in the manual's shape (filled by `streams import`).
    op.create_table(
        "streams",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("status", sa.String(32)),
        sa.Column("assigned_to", sa.String(64)),
        sa.Column("last_check", UtcDateTime),
        sa.Column("created_at", UtcDateTime),
        sa.Column("updated_at", UtcDateTime),
        sa.Column("metadata", sa.JSON),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    for table in ("streams", "fleet_state", "stream_changes", "assignments", "monitored_streams"):
        op.drop_table(table)
    op.drop_table("instances")
