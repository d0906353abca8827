"""The leader's reads and its one fenced write per monitor tick.

Reads are incremental where the fleet is large: instance rows come without their reports except
for instances whose `report_version` moved since the leader last read them. The write is one
transaction that ends with a compare-and-set on the fleet row (epoch, lease and generation), so a
stale leader's tick is rolled back whole (:class:`StaleLeadershipError`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table, case, func, insert, null, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fingerv7.core.handoff import Holding
from fingerv7.core.planning.model import Change, InstanceState, StreamSpec
from fingerv7.storage import schema
from fingerv7.storage.bulk import delete_ids, id_filter, insert_rows, upsert
from fingerv7.storage.clock import is_postgresql, seconds_since
from fingerv7.storage.database import retrying
from fingerv7.storage.fleet_rows import FleetRow
from fingerv7.storage.leader_lease import fence_clause
from fingerv7.storage.row_digest import row_digest

ASSIGNMENTS_CHANNEL = "fingerv7_assignments"
REPORTS_CHANNEL = "fingerv7_reports"


class StaleLeadershipError(RuntimeError):
    """The tick's epoch or lease is no longer current: another process leads now."""


@dataclass(frozen=True, slots=True)
class SyncedStream:
    id: int
    url: str
    name: str
    metadata: dict[str, Any]
    region: str | None


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """One instance as the monitor sees it; `silent_s` is measured on the database's clock."""

    id: str
    max_streams: int
    state: InstanceState
    draining: bool
    deregistered: bool
    location: str | None
    performance_score: float
    last_seen_at: datetime
    silent_s: float
    heartbeat_count: int
    generation: int
    applied_generation: int
    report_version: int
    reported_stream_ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class InstancesDigest:
    """What `TickStore.instances_digest` reads: equal (rows, hash_sum) mean nothing a tick
    decides from changed; `next_crossing_s`: seconds until some silence passes a threshold."""

    rows: int
    hash_sum: int
    next_crossing_s: float | None


@dataclass(slots=True)
class TickWrite:
    """Everything one monitor tick changes."""

    now: datetime
    generation: int
    states: dict[str, InstanceState]
    state_changed: Sequence[str]
    changed_instances: Sequence[str]
    removed_instances: Sequence[tuple[str, datetime]]  # (id, last_seen_at as read)
    holdings: dict[int, Holding | None]
    changes: Sequence[Change]
    streams_upsert: Sequence[SyncedStream] = ()
    streams_delete: Sequence[int] = ()
    rebalanced: bool = False
    rebalance_manual: bool = False
    consumed_rebalance_request: datetime | None = None
    source_status: str | None = None
    source_error: str | None = None


class TickStorage(Protocol):
    """What the leader's monitor reads and writes (`TickStore` on SQL, `InMemoryTickStore`)."""

    async def instance_rows(self, known: Mapping[str, InstanceRow]) -> list[InstanceRow]: ...

    async def instances_digest(
        self, silence_limits: Sequence[float], *, silence_cap_s: float | None = None
    ) -> InstancesDigest | None: ...

    async def load_holdings(self) -> dict[int, Holding]: ...

    async def load_monitored_streams(self) -> dict[int, SyncedStream]: ...

    async def fleet_row(self) -> FleetRow: ...

    async def fleet_generation(self) -> int: ...

    async def write_tick(
        self, tick: TickWrite, *, epoch: int, expected_generation: int
    ) -> None: ...


# The columns an InstanceRow is made of (reports apart): every other column is a conversion
# the monitor would pay for 2,000 times per tick and not use.
_MONITORED = [
    getattr(schema.instances.c, name)
    for name in (
        "id",
        "max_streams",
        "state",
        "draining",
        "deregistered",
        "location",
        "performance_score",
        "last_seen_at",
        "heartbeat_count",
        "generation",
        "applied_generation",
        "report_version",
    )
]


class TickStore:
    """SQL of the leader's monitor tick (a `TickStorage`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Reads run in autocommit: no transaction stays open while Python digests 100,000
        # rows (PostgreSQL ends sessions idle in a transaction; see storage/database.py).
        self.reader = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def instance_rows(self, known: Mapping[str, InstanceRow]) -> list[InstanceRow]:
        """Every instance (deregistered included); reports re-read only where they changed."""
        i = schema.instances
        async with self.reader.connect() as conn:
            silent = seconds_since(i.c.last_seen_at, conn.dialect).label("silent_s")
            rows = (await conn.execute(select(*_MONITORED, silent).order_by(i.c.id))).all()
            stale = [
                r.id
                for r in rows
                if r.id not in known or known[r.id].report_version != r.report_version
            ]
            reports: dict[str, frozenset[int]] = {}
            if stale:
                for clause in id_filter(conn, i.c.id, stale):
                    query = select(i.c.id, i.c.reported_stream_ids).where(clause)
                    for row in await conn.execute(query):
                        reports[row.id] = frozenset(row.reported_stream_ids)
        return [
            InstanceRow(
                id=r.id,
                max_streams=r.max_streams,
                state=InstanceState(r.state),
                draining=bool(r.draining),
                deregistered=bool(r.deregistered),
                location=r.location,
                performance_score=float(r.performance_score),
                last_seen_at=r.last_seen_at,
                silent_s=max(0.0, float(r.silent_s)),
                heartbeat_count=int(r.heartbeat_count),
                generation=int(r.generation),
                applied_generation=int(r.applied_generation),
                report_version=int(r.report_version),
                reported_stream_ids=(
                    reports[r.id] if r.id in reports else known[r.id].reported_stream_ids
                ),
            )
            for r in rows
        ]

    async def instances_digest(
        self, silence_limits: Sequence[float], *, silence_cap_s: float | None = None
    ) -> InstancesDigest | None:
        """A digest of every instance column a tick decides from, the last beat only as which
        of `silence_limits` its silence (at most `silence_cap_s`) exceeds: equal digests mean no
        instance changed but by beating, and none crossed a threshold either way. Also how soon
        the next crossing comes (the rule of `core.lifecycle.next_transition_s`, on the
        database's clock). PostgreSQL hashes the 2,000 rows itself, so a quiet monitor tick
        reads one row instead of 2,000. None on SQLite (no hash function: every tick reads)."""
        if not is_postgresql(self.engine.dialect):
            return None
        i = schema.instances
        limits = sorted(silence_limits)
        async with self.reader.connect() as conn:
            silent = seconds_since(i.c.last_seen_at, conn.dialect)
            if silence_cap_s is not None:
                silent = func.least(silent, silence_cap_s)
            deciding = tuple_(
                i.c.id,
                i.c.max_streams,
                i.c.location,
                i.c.performance_score,
                i.c.state,
                i.c.draining,
                i.c.deregistered,
                i.c.heartbeat_count > 0,
                i.c.generation,
                i.c.applied_generation,
                i.c.report_version,
                *(silent > limit for limit in limits),
            )
            to_next_limit = case(*((silent <= limit, limit - silent) for limit in limits))
            soonest = func.min(to_next_limit).filter(i.c.deregistered.is_(False))
            query = select(*row_digest(deciding), soonest)
            count, total, soonest_s = (await conn.execute(query)).one()
        return InstancesDigest(
            rows=int(count),
            hash_sum=int(total or 0),
            next_crossing_s=None if soonest_s is None else float(soonest_s),
        )

    async def load_holdings(self) -> dict[int, Holding]:
        a = schema.assignments
        async with self.reader.connect() as conn:
            rows = (
                await conn.execute(
                    select(a.c.stream_id, a.c.target, a.c.holder, a.c.revoked_generation)
                )
            ).all()
        return {int(r[0]): Holding(int(r[0]), r[1], r[2], r[3]) for r in rows}

    async def load_monitored_streams(self) -> dict[int, SyncedStream]:
        m = schema.monitored_streams
        query = select(m.c.id, m.c.url, m.c.name, m.c.stream_metadata, m.c.region)
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {int(r[0]): SyncedStream(int(r[0]), r[1], r[2], dict(r[3]), r[4]) for r in rows}

    async def fleet_row(self) -> FleetRow:
        return FleetRow.of(await read_fleet_row(self.engine))

    async def fleet_generation(self) -> int:
        f = schema.fleet_state
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(select(f.c.generation).where(f.c.id == schema.FLEET_ROW_ID))
            ).scalar_one()
        return int(value)

    async def write_tick(self, tick: TickWrite, *, epoch: int, expected_generation: int) -> None:
        """Persist one tick's decisions atomically, only while `epoch` still leads."""

        async def transaction() -> None:
            async with self.engine.begin() as conn:
                await _write_streams(conn, tick)
                await _write_instances(conn, tick)
                await _write_holdings(conn, tick, epoch)
                if tick.generation != expected_generation:
                    # Delivered at commit, dropped with a rolled-back tick: sent before the
                    # fence, so that only the commit follows it (see `_write_fleet`).
                    await notify(conn, ASSIGNMENTS_CHANNEL, str(tick.generation))
                await _write_fleet(conn, tick, epoch, expected_generation)

        await retrying(transaction)


async def read_fleet_row(engine: AsyncEngine) -> dict[str, Any]:
    f = schema.fleet_state
    async with engine.connect() as conn:
        row = (await conn.execute(select(f).where(f.c.id == schema.FLEET_ROW_ID))).one()
        return dict(row._mapping)


def stream_specs(streams: Iterable[SyncedStream]) -> list[StreamSpec]:
    return [StreamSpec(id=s.id, region=s.region) for s in sorted(streams, key=lambda s: s.id)]


async def notify(conn: AsyncConnection, channel: str, payload: str = "") -> None:
    """Wake the other orchestrator processes when this transaction commits (PostgreSQL)."""
    if is_postgresql(conn.dialect):
        await conn.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
        )


async def _write_streams(conn: AsyncConnection, tick: TickWrite) -> None:
    m = schema.monitored_streams
    await delete_ids(conn, m, m.c.id, list(tick.streams_delete))
    rows = [
        {
            "id": s.id,
            "url": s.url,
            "name": s.name,
            "stream_metadata": s.metadata,
            "region": s.region,
            "synced_at": tick.now,
        }
        for s in tick.streams_upsert
    ]
    await upsert(conn, m, "id", rows)


async def _write_instances(conn: AsyncConnection, tick: TickWrite) -> None:
    i = schema.instances
    by_state: dict[InstanceState, list[str]] = {}
    for instance_id in tick.state_changed:
        by_state.setdefault(tick.states[instance_id], []).append(instance_id)
    for state, ids in by_state.items():
        for clause in id_filter(conn, i.c.id, ids):
            await conn.execute(
                update(i).where(clause).values(state=state.value, state_changed_at=tick.now)
            )
    for clause in (
        id_filter(conn, i.c.id, list(tick.changed_instances)) if tick.changed_instances else []
    ):
        await conn.execute(update(i).where(clause).values(generation=tick.generation))
    for instance_id, seen_last_seen_at in tick.removed_instances:
        # Only if nothing was heard from it since the tick read it (it may have registered again).
        await conn.execute(
            i.delete().where(i.c.id == instance_id, i.c.last_seen_at <= seen_last_seen_at)
        )


async def _write_holdings(conn: AsyncConnection, tick: TickWrite, epoch: int) -> None:
    a, c = schema.assignments, schema.stream_changes
    gone = [s for s, h in tick.holdings.items() if h is None]
    await delete_ids(conn, a, a.c.stream_id, gone)
    kept = [
        {
            "stream_id": h.stream_id,
            "target": h.target,
            "holder": h.holder,
            "revoked_generation": h.revoked_generation,
        }
        for h in tick.holdings.values()
        if h is not None
    ]
    await upsert(conn, a, "stream_id", kept, constants={"updated_at": tick.now})
    if tick.changes:
        changes = [
            {
                "stream_id": change.stream_id,
                "from_instance": change.from_instance,
                "to_instance": change.to_instance,
                "reason": change.reason.value,
            }
            for change in tick.changes
        ]
        same = {"changed_at": tick.now, "generation": tick.generation, "leader_epoch": epoch}
        await insert_many(conn, c, changes, constants=same)


async def insert_many(
    conn: AsyncConnection,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    constants: Mapping[str, Any] | None = None,
) -> None:
    if is_postgresql(conn.dialect):
        await insert_rows(conn, table, rows, constants=constants)
    else:
        await conn.execute(insert(table), [{**row, **(constants or {})} for row in rows])


async def _write_fleet(
    conn: AsyncConnection, tick: TickWrite, epoch: int, expected_generation: int
) -> None:
    """The compare-and-set that fences the whole transaction, as its last statement.

    It locks the fleet row, which a new leader must update to take the lease: a leader frozen
    between this statement and its commit (SIGSTOP, a VM pause) keeps every other replica from
    leading until PostgreSQL ends its session (`idle_in_transaction_s`, at least 10 s). One
    statement with nothing after it leaves only the commit's round trip in that window.
    """
    f = schema.fleet_state
    values: dict[str, Any] = {"generation": tick.generation}
    if tick.consumed_rebalance_request is not None:
        # Level-triggered: clear the request only if no newer one arrived meanwhile.
        values["rebalance_requested_at"] = case(
            (f.c.rebalance_requested_at <= tick.consumed_rebalance_request, null()),
            else_=f.c.rebalance_requested_at,
        )
    if tick.rebalanced:
        values["last_rebalance_at"] = tick.now
        column = f.c.rebalances_manual if tick.rebalance_manual else f.c.rebalances_automatic
        values[column.name] = column + 1
    if tick.source_status is not None:
        values |= {
            "source_status": tick.source_status,
            "source_error": tick.source_error,
            "source_checked_at": tick.now,
        }
    result = await conn.execute(
        update(f)
        .where(
            f.c.id == schema.FLEET_ROW_ID,
            f.c.generation == expected_generation,
            fence_clause(epoch, conn.dialect),
        )
        .values(**values)
    )
    if result.rowcount != 1:
        raise StaleLeadershipError(
            f"leader epoch {epoch} no longer holds the lease (or the generation moved past "
            f"{expected_generation}): this tick is rolled back"
        )
