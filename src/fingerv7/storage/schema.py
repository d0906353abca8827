"""Tables of the orchestrator's own database (PostgreSQL in production, SQLite embedded).

Alembic migrations (storage/migrations) create them; this module is the single description the
code queries against. Times are stored timezone-aware in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)

INSTANCE_ID_LENGTH = 64


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores no zone; we add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

INSTANCES_FILLFACTOR = 50

instances = Table(
    "instances",
    metadata,
    Column("id", String(INSTANCE_ID_LENGTH), primary_key=True),
    Column("max_streams", Integer, nullable=False),
    Column("capabilities", JSON, nullable=False, default=list),
    Column("version", String(64)),
    Column("location", String(128)),
    Column("performance_score", Float, nullable=False, default=1.0),
    Column("state", String(16), nullable=False),
    Column("draining", Boolean, nullable=False, default=False),
    Column("deregistered", Boolean, nullable=False, default=False),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("state_changed_at", UtcDateTime, nullable=False),
    Column("heartbeat_count", BigInteger, nullable=False, default=0),
    Column("generation", BigInteger, nullable=False, default=0),
    Column("applied_generation", BigInteger, nullable=False, default=0),
    Column("reported_stream_ids", JSON, nullable=False, default=list),
    Column("stats", JSON, nullable=False, default=dict),
    # When the report stored here was received (the database's clock), so a batch flushed late
    # by one orchestrator process never overwrites a newer report flushed by another.
    Column("last_report_at", UtcDateTime),
    # Bumped whenever the stored report (streams run, generation applied) changes: the leader
    # re-reads the reports of only these instances.
    Column("report_version", BigInteger, nullable=False, default=0),
    # Every heartbeat flush rewrites the row. Free space in each page lets PostgreSQL keep the
    # new version beside the old (a HOT update, no index entry) and prune the old one on the
    # next read, so the table stays small even where autovacuum lags (migration 0004).
    postgresql_with={"fillfactor": INSTANCES_FILLFACTOR},
)

monitored_streams = Table(
    "monitored_streams",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("url", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("stream_metadata", JSON, nullable=False, default=dict),
    Column("region", String(128)),
    Column("synced_at", UtcDateTime, nullable=False),
)

assignments = Table(
    "assignments",
    metadata,
    Column("stream_id", BigInteger, primary_key=True, autoincrement=False),
    Column("target", String(INSTANCE_ID_LENGTH)),
    Column("holder", String(INSTANCE_ID_LENGTH)),
    Column("revoked_generation", BigInteger),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_assignments_holder", "holder"),
    Index("ix_assignments_target", "target"),
)

stream_changes = Table(
    "stream_changes",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("changed_at", UtcDateTime, nullable=False),
    Column("generation", BigInteger, nullable=False),
    Column("stream_id", BigInteger, nullable=False),
    Column("from_instance", String(INSTANCE_ID_LENGTH)),
    Column("to_instance", String(INSTANCE_ID_LENGTH)),
    Column("reason", String(32), nullable=False),
    Column("leader_epoch", BigInteger),  # the leadership term that wrote the change
    Index("ix_stream_changes_changed_at", "changed_at"),
    # A new leader's `quarantined_streams`: each quarantined stream's latest change. Without
    # these both of its queries scan the whole audit (185 ms at a million rows).
    Index("ix_stream_changes_stream_id", "stream_id", "id"),
    Index(
        "ix_stream_changes_quarantine",
        "stream_id",
        postgresql_where=text("reason = 'quarantine'"),
        sqlite_where=text("reason = 'quarantine'"),
    ),
)

fleet_state = Table(
    "fleet_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("generation", BigInteger, nullable=False, default=0),
    Column("last_rebalance_at", UtcDateTime),
    Column("rebalance_requested_at", UtcDateTime),
    Column("rebalances_automatic", BigInteger, nullable=False, default=0),
    Column("rebalances_manual", BigInteger, nullable=False, default=0),
    Column("source_status", String(16), nullable=False, default="unknown"),
    Column("source_error", Text),
    Column("source_checked_at", UtcDateTime),
    Column("leader_id", String(128)),
    Column("leader_since", UtcDateTime),
    # The fencing token: bumped by every new leader; every leader write checks it in its own
    # transaction, so a leader that stalled and lost its lease can never commit a stale tick.
    Column("leader_epoch", BigInteger, nullable=False, default=0),
    Column("lease_expires_at", UtcDateTime),
    Column("leader_backend_pid", Integer),  # PostgreSQL: the leader's lease connection
)

FLEET_ROW_ID = 1
