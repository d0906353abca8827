"""One compressed blob of hashes per track instead of one row per hash (6 MB/h -> ~0.4 MB/h).

Revision ID: c0002
Revises: c0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from alembic import op

from fingerv7.catalog.fingerprint_blobs import decode_fingerprint, encode_fingerprint

revision = "c0002"
down_revision = "c0001"
branch_labels = None
depends_on = None

_fingerprints = sa.table(
    "catalog_fingerprints", sa.column("track_id", sa.Integer), sa.column("entries", sa.LargeBinary)
)
_hashes = sa.table(
    "catalog_hashes",
    sa.column("hash", sa.Integer),
    sa.column("track_id", sa.Integer),
    sa.column("frame", sa.Integer),
)


def upgrade() -> None:
    op.create_table(
        "catalog_fingerprints",
        sa.Column(
            "track_id",
            sa.Integer,
            sa.ForeignKey("catalog_tracks.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("entries", sa.LargeBinary, nullable=False),
    )
    connection = op.get_bind()
    track_ids = connection.execute(sa.select(_hashes.c.track_id).distinct()).scalars().all()
    for track_id in track_ids:
        rows = connection.execute(
            sa.select(_hashes.c.hash, _hashes.c.frame)
            .where(_hashes.c.track_id == track_id)
            .order_by(_hashes.c.frame, _hashes.c.hash)
        ).all()
        table = np.asarray(rows, dtype=np.int64).reshape(-1, 2)
        connection.execute(
            sa.insert(_fingerprints),
            {"track_id": track_id, "entries": encode_fingerprint(table[:, 0], table[:, 1])},
        )
    op.drop_table("catalog_hashes")


def downgrade() -> None:
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
    connection = op.get_bind()
    for track_id, blob in connection.execute(sa.select(_fingerprints)).all():
        hashes, frames = decode_fingerprint(bytes(blob))
        rows = [
            {"hash": int(h), "track_id": track_id, "frame": int(f)}
            for h, f in zip(hashes, frames, strict=True)
        ]
        if rows:
            connection.execute(sa.insert(_hashes), rows)
    op.drop_table("catalog_fingerprints")
