"""The change audit: index each stream's changes, and the quarantine moves apart.

A new leader reads each quarantined stream's latest change (`FleetStore.quarantined_streams`).
The audit is never shortened and a cold start at 100,000 streams writes 100,000 rows; measured on
PostgreSQL 15 with a million rows, the two queries scanned the table in 56 and 129 ms, and took
under 1 ms each with these indexes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

QUARANTINE = sa.text("reason = 'quarantine'")


def upgrade() -> None:
    op.create_index("ix_stream_changes_stream_id", "stream_changes", ["stream_id", "id"])
    op.create_index(
        "ix_stream_changes_quarantine",
        "stream_changes",
        ["stream_id"],
        postgresql_where=QUARANTINE,
        sqlite_where=QUARANTINE,
    )


def downgrade() -> None:
    op.drop_index("ix_stream_changes_quarantine", "stream_changes")
    op.drop_index("ix_stream_changes_stream_id", "stream_changes")
