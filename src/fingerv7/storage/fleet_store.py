"""The orchestrator's reads and writes, one short transaction each.

Writers are partitioned so they never contend: request handlers write only their own instance's
row (registration, heartbeat, operator flags); only the leader's monitor tick writes assignments,
monitored streams, the audit and the fleet generation. No table locks, no lock rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fingerv7.core.handoff import Holding
from fingerv7.core.planning.model import Change, InstanceState, StreamSpec
from fingerv7.storage import schema
from fingerv7.storage.database import retrying


@dataclass(frozen=True, slots=True)
class Registration:
    instance_id: str
    max_streams: int
    capabilities: list[str]
    version: str | None
    location: str | None


@dataclass(frozen=True, slots=True)
class HeartbeatReport:
    instance_id: str
    stopping: bool
    stream_ids: list[int]
    applied_generation: int
    stats: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DesiredStream:
    id: int
    url: str
    name: str
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DesiredSet:
    """An instance's complete desired set, its generation, and its state, read together."""

    generation: int
    state: InstanceState
    streams: list[DesiredStream]
    applied_generation: int  # as last reported by the instance
    reported: frozenset[int]  # what it last said it runs

    @property
    def ids(self) -> set[int]:
        return {s.id for s in self.streams}


@dataclass(frozen=True, slots=True)
class SyncedStream:
    id: int
    url: str
    name: str
    metadata: dict[str, Any]
    region: str | None


class FleetStore:
    """All SQL of the orchestrator's own database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # ----- request handlers (any process) -------------------------------------------------

    async def register(self, registration: Registration, now: datetime) -> dict[str, Any]:
        """Insert or update the instance; never touches its streams (idempotent re-register)."""
        i = schema.instances
        values = {
            "max_streams": registration.max_streams,
            "capabilities": registration.capabilities,
            "version": registration.version,
            "location": registration.location,
            "last_seen_at": now,
            "deregistered": False,
        }

        async def transaction() -> dict[str, Any]:
            async with self.engine.begin() as conn:
                row = await _instance_row(conn, registration.instance_id)
                if row is None:
                    await conn.execute(
                        insert(i).values(
                            id=registration.instance_id,
                            performance_score=1.0,
                            state=InstanceState.REGISTERED.value,
                            draining=False,
                            registered_at=now,
                            state_changed_at=now,
                            heartbeat_count=0,
                            generation=0,
                            applied_generation=0,
                            reported_stream_ids=[],
                            stats={},
                            **values,
                        )
                    )
                else:
                    fresh_start = (
                        {"heartbeat_count": 0, "registered_at": now} if row["deregistered"] else {}
                    )
                    await conn.execute(
                        update(i)
                        .where(i.c.id == registration.instance_id)
                        .values(**values, **fresh_start)
                    )
                fresh = await _instance_row(conn, registration.instance_id)
                assert fresh is not None
                return fresh

        return await retrying(transaction)

    async def record_heartbeat(self, report: HeartbeatReport, now: datetime) -> bool:
        """Store what the instance runs; False when it is unknown or deregistered."""
        i = schema.instances
        values: dict[str, Any] = {
            "last_seen_at": now,
            "heartbeat_count": i.c.heartbeat_count + 1,
            "reported_stream_ids": sorted(set(report.stream_ids)),
            "applied_generation": report.applied_generation,
            "stats": report.stats,
        }
        if report.stopping:
            values["deregistered"] = True

        async def transaction() -> bool:
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    update(i)
                    .where(i.c.id == report.instance_id, i.c.deregistered.is_(False))
                    .values(**values)
                )
                return bool(result.rowcount)

        return await retrying(transaction)

    async def desired_streams(self, instance_id: str) -> DesiredSet | None:
        """(generation, desired set) of a registered instance; None when it is not registered.

        One statement, so the generation and the set come from the same snapshot: a worker that
        applies this set and reports this generation has really dropped what it no longer holds.
        """
        a, m, i = schema.assignments, schema.monitored_streams, schema.instances
        owned = a.join(m, m.c.id == a.c.stream_id)
        query = (
            select(
                i.c.generation,
                i.c.state,
                i.c.applied_generation,
                i.c.reported_stream_ids,
                m.c.id,
                m.c.url,
                m.c.name,
                m.c.stream_metadata,
            )
            .select_from(i.outerjoin(owned, (a.c.holder == i.c.id) & (a.c.target == i.c.id)))
            .where(i.c.id == instance_id, i.c.deregistered.is_(False))
            .order_by(m.c.id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            return None
        streams = [
            DesiredStream(r.id, r.url, r.name, dict(r.stream_metadata))
            for r in rows
            if r.id is not None
        ]
        first = rows[0]
        return DesiredSet(
            generation=int(first.generation),
            state=InstanceState(first.state),
            streams=streams,
            applied_generation=int(first.applied_generation),
            reported=frozenset(first.reported_stream_ids),
        )

    async def instance_generation(self, instance_id: str) -> int | None:
        i = schema.instances
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(
                    select(i.c.generation).where(i.c.id == instance_id, i.c.deregistered.is_(False))
                )
            ).scalar_one_or_none()
        return None if value is None else int(value)

    async def streams_held_by_others(
        self, instance_id: str, stream_ids: Iterable[int]
    ) -> list[int]:
        """Of the streams an instance says it runs, those it does not hold (discrepancies)."""
        ids = sorted(set(stream_ids))
        if not ids:
            return []
        a = schema.assignments
        async with self.engine.connect() as conn:
            held = set(
                (
                    await conn.execute(
                        select(a.c.stream_id).where(
                            a.c.stream_id.in_(ids), a.c.holder == instance_id
                        )
                    )
                ).scalars()
            )
        return [s for s in ids if s not in held]

    async def set_draining(self, instance_id: str, draining: bool) -> bool:
        return await self._update_registered(instance_id, draining=draining)

    async def deregister(self, instance_id: str) -> bool:
        return await self._update_registered(instance_id, deregistered=True)

    async def _update_registered(self, instance_id: str, **values: Any) -> bool:
        """Operator flags on a registered instance; False when there is no such instance."""
        i = schema.instances
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(i).where(i.c.id == instance_id, i.c.deregistered.is_(False)).values(**values)
            )
        return bool(result.rowcount)

    async def request_rebalance(self, now: datetime) -> None:
        f = schema.fleet_state
        async with self.engine.begin() as conn:
            await conn.execute(
                update(f).where(f.c.id == schema.FLEET_ROW_ID).values(rebalance_requested_at=now)
            )

    # ----- reads for the status endpoints ---------------------------------------------------

    async def instances(self) -> list[dict[str, Any]]:
        i = schema.instances
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(i).where(i.c.deregistered.is_(False)).order_by(i.c.id))
            return [dict(r._mapping) for r in rows]

    async def instance(self, instance_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = await _instance_row(conn, instance_id)
        return None if row is None or row["deregistered"] else row

    async def assignment_counts(self) -> dict[str, int]:
        """Streams each instance owns now (target and holder agree)."""
        a = schema.assignments
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(a.c.target, func.count())
                .where(a.c.target == a.c.holder)
                .group_by(a.c.target)
            )
            return {r[0]: int(r[1]) for r in rows}

    async def ownership(self) -> list[tuple[int, str | None, str | None]]:
        """(stream_id, target, holder) of every monitored stream, unassigned ones included."""
        a, m = schema.assignments, schema.monitored_streams
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(m.c.id, a.c.target, a.c.holder)
                .select_from(m.outerjoin(a, a.c.stream_id == m.c.id))
                .order_by(m.c.id)
            )
            return [(int(r[0]), r[1], r[2]) for r in rows]

    async def recent_changes(self, limit: int = 100) -> list[dict[str, Any]]:
        c = schema.stream_changes
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(c).order_by(c.c.id.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]

    async def fleet_row(self) -> dict[str, Any]:
        f = schema.fleet_state
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(f).where(f.c.id == schema.FLEET_ROW_ID))).one()
            return dict(row._mapping)

    async def fleet_generation(self) -> int:
        f = schema.fleet_state
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(select(f.c.generation).where(f.c.id == schema.FLEET_ROW_ID))
            ).scalar_one()
        return int(value)

    # ----- the leader's monitor tick ------------------------------------------------------

    async def instances_for_monitor(self) -> list[dict[str, Any]]:
        """Every instance row, deregistered ones included (the monitor retires them)."""
        i = schema.instances
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(i).order_by(i.c.id))
            return [dict(r._mapping) for r in rows]

    async def load_holdings(self) -> dict[int, Holding]:
        a = schema.assignments
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(a))
            return {
                int(r.stream_id): Holding(
                    int(r.stream_id), r.target, r.holder, r.revoked_generation
                )
                for r in rows
            }

    async def load_monitored_streams(self) -> dict[int, SyncedStream]:
        m = schema.monitored_streams
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(m))
            return {
                int(r.id): SyncedStream(int(r.id), r.url, r.name, dict(r.stream_metadata), r.region)
                for r in rows
            }

    async def write_tick(self, tick: TickWrite) -> None:
        """Persist one tick's decisions atomically (all or nothing)."""

        async def transaction() -> None:
            async with self.engine.begin() as conn:
                await _write_streams(conn, tick)
                await _write_instances(conn, tick)
                await _write_holdings(conn, tick)
                await _write_fleet(conn, tick)

        await retrying(transaction)


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


async def _instance_row(conn: AsyncConnection, instance_id: str) -> dict[str, Any] | None:
    i = schema.instances
    row = (await conn.execute(select(i).where(i.c.id == instance_id))).one_or_none()
    return None if row is None else dict(row._mapping)


async def _write_streams(conn: AsyncConnection, tick: TickWrite) -> None:
    m = schema.monitored_streams
    if tick.streams_delete:
        await conn.execute(delete(m).where(m.c.id.in_(list(tick.streams_delete))))
    if tick.streams_upsert:
        ids = [s.id for s in tick.streams_upsert]
        await conn.execute(delete(m).where(m.c.id.in_(ids)))
        await conn.execute(
            insert(m),
            [
                {
                    "id": s.id,
                    "url": s.url,
                    "name": s.name,
                    "stream_metadata": s.metadata,
                    "region": s.region,
                    "synced_at": tick.now,
                }
                for s in tick.streams_upsert
            ],
        )


async def _write_instances(conn: AsyncConnection, tick: TickWrite) -> None:
    i = schema.instances
    for instance_id in tick.state_changed:
        await conn.execute(
            update(i)
            .where(i.c.id == instance_id)
            .values(state=tick.states[instance_id].value, state_changed_at=tick.now)
        )
    if tick.changed_instances:
        await conn.execute(
            update(i)
            .where(i.c.id.in_(list(tick.changed_instances)))
            .values(generation=tick.generation)
        )
    for instance_id, seen_last_seen_at in tick.removed_instances:
        # Only if nothing was heard from it since the tick read it (it may have registered again).
        await conn.execute(
            delete(i).where(i.c.id == instance_id, i.c.last_seen_at <= seen_last_seen_at)
        )


async def _write_holdings(conn: AsyncConnection, tick: TickWrite) -> None:
    a, c = schema.assignments, schema.stream_changes
    gone = [s for s, h in tick.holdings.items() if h is None]
    kept = [h for h in tick.holdings.values() if h is not None]
    if gone:
        await conn.execute(delete(a).where(a.c.stream_id.in_(gone)))
    if kept:
        await conn.execute(delete(a).where(a.c.stream_id.in_([h.stream_id for h in kept])))
        await conn.execute(
            insert(a),
            [
                {
                    "stream_id": h.stream_id,
                    "target": h.target,
                    "holder": h.holder,
                    "revoked_generation": h.revoked_generation,
                    "updated_at": tick.now,
                }
                for h in kept
            ],
        )
    if tick.changes:
        await conn.execute(
            insert(c),
            [
                {
                    "changed_at": tick.now,
                    "generation": tick.generation,
                    "stream_id": change.stream_id,
                    "from_instance": change.from_instance,
                    "to_instance": change.to_instance,
                    "reason": change.reason.value,
                }
                for change in tick.changes
            ],
        )


async def _write_fleet(conn: AsyncConnection, tick: TickWrite) -> None:
    f = schema.fleet_state
    values: dict[str, Any] = {"generation": tick.generation}
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
    await conn.execute(update(f).where(f.c.id == schema.FLEET_ROW_ID).values(**values))
    if tick.consumed_rebalance_request is not None:
        # Level-triggered: clear the request only if no newer one arrived meanwhile.
        await conn.execute(
            update(f)
            .where(
                f.c.id == schema.FLEET_ROW_ID,
                f.c.rebalance_requested_at <= tick.consumed_rebalance_request,
            )
            .values(rebalance_requested_at=None)
        )


def stream_specs(streams: Iterable[SyncedStream]) -> list[StreamSpec]:
    return [StreamSpec(id=s.id, region=s.region) for s in sorted(streams, key=lambda s: s.id)]
