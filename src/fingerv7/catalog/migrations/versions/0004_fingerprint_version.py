"""Record which catalog-side fingerprint algorithm made each track's hashes.

Hashes made by another version do not line up with today's queries: the catalog must say so
instead of silently missing (docs/fingerprint.md, "Catalog fingerprint versions"). Rows that
exist when this revision runs were made by version 1.

Revision ID: c0004
Revises: c0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0004"
down_revision = "c0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "catalog_tracks",
        sa.Column("fingerprint_version", sa.Integer, nullable=False, server_default="1"),
    )


def downgrade() -> None:
    op.drop_column("catalog_tracks", "fingerprint_version")
