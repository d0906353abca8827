"""Each track's low-band hashes (20-160 Hz, core/fingerprint/low_band.py) beside its main ones.

Tracks that exist when this revision runs were fingerprinted by version 4 or older: they are
stale (CATALOG_FINGERPRINT_VERSION 5) and get their low band when `catalog add` renews them.

Revision ID: c0005
Revises: c0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0005"
down_revision = "c0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "catalog_fingerprints", sa.Column("low_band_entries", sa.LargeBinary, nullable=True)
    )


def downgrade() -> None:
    op.drop_column("catalog_fingerprints", "low_band_entries")
