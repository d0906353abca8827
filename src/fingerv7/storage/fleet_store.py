"""The orchestrator's request-side reads and writes, one short transaction each.

Writers are partitioned so they never contend: request handlers write only their own instance's
row (registration, operator flags; heartbeats go through `report_store` in batches); only the
leader's monitor tick (`tick_store`) writes assignments, monitored streams, the audit and the
fleet generation. No table locks, no lock rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert

from fingerv7.core.planning.model import ChangeReason, InstanceState
from fingerv7.storage import schema
from fingerv7.storage.clock import database_now, is_postgresql
from fingerv7.storage.database import retrying
from fingerv7.storage.fleet_rows import (
    FleetRow,
    InstanceRow,
    Registered,
    Registration,
    StreamChange,
    StreamOwnership,
)
from fingerv7.storage.report_store import DesiredSet, DesiredStream, read_desired_sets
from fingerv7.storage.tick_store import (
    ASSIGNMENTS_CHANNEL,
    REPORTS_CHANNEL,
    notify,
    read_fleet_row,
)


class FleetStore:
    """SQL behind the instance protocol's registration, operator actions and the status views
    (a `FleetStorage`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def register(self, registration: Registration) -> Registered:
        """Insert or update the instance; never touches its streams (idempotent re-register).

        One upsert, so concurrent first registrations of one id, or a registration racing the
        monitor's removal of the same id, all end in one registered row. The answer's desired
        set is read in the same snapshot (a re-registered instance keeps its streams). On
        PostgreSQL all of it is one statement in autocommit, one round trip: a fleet restart
        registers thousands at once, and every round trip waits its turn on a busy event loop.
        Registering changes nobody's desired set, so no cache is told to refresh; the leader
        is woken (in this process by the caller, in another by NOTIFY in the same statement).
        """

        async def transaction() -> Registered:
            if is_postgresql(self.engine.dialect):
                async with self._autocommit.connect() as conn:
                    return await _register_in_one_statement(conn, registration)
            async with self.engine.begin() as conn:
                upsert = _upsert(registration, conn.dialect).returning(*schema.instances.c)
                row = (await conn.execute(upsert)).one()
                desired = await read_desired_sets(conn, [registration.instance_id])
                return Registered(_instance(row._mapping), desired[registration.instance_id])

        return await retrying(transaction)

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

    async def _update_registered(self, instance_id: str, **values: bool) -> bool:
        """Operator flags on a registered instance; False when there is no such instance."""
        i = schema.instances
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(i).where(i.c.id == instance_id, i.c.deregistered.is_(False)).values(**values)
            )
            await notify(conn, REPORTS_CHANNEL)
            await notify(conn, ASSIGNMENTS_CHANNEL)
        return bool(result.rowcount)

    async def request_rebalance(self, now: datetime) -> None:
        f = schema.fleet_state
        async with self.engine.begin() as conn:
            await conn.execute(
                update(f).where(f.c.id == schema.FLEET_ROW_ID).values(rebalance_requested_at=now)
            )
            await notify(conn, REPORTS_CHANNEL)

    # ----- reads for the status endpoints ---------------------------------------------------

    async def instances(self) -> list[InstanceRow]:
        i = schema.instances
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(i).where(i.c.deregistered.is_(False)).order_by(i.c.id))
            return [_instance(r._mapping) for r in rows]

    async def instance(self, instance_id: str) -> InstanceRow | None:
        i = schema.instances
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(i).where(i.c.id == instance_id, i.c.deregistered.is_(False))
                )
            ).one_or_none()
        return None if row is None else _instance(row._mapping)

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

    async def ownership(self, stream_id: int | None = None) -> list[StreamOwnership]:
        """Every monitored stream's (or one's) target and holder, unassigned ones included."""
        a, m = schema.assignments, schema.monitored_streams
        query = (
            select(m.c.id, a.c.target, a.c.holder)
            .select_from(m.outerjoin(a, a.c.stream_id == m.c.id))
            .order_by(m.c.id)
        )
        if stream_id is not None:
            query = query.where(m.c.id == stream_id)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return [StreamOwnership(int(r[0]), r[1], r[2]) for r in rows]

    async def recent_changes(self, limit: int = 100) -> list[StreamChange]:
        c = schema.stream_changes
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(c).order_by(c.c.id.desc()).limit(limit))
            return [_change(r._mapping) for r in rows]

    async def quarantined_streams(self) -> dict[int, str]:
        """Streams whose latest change in the audit is a quarantine move, with the instance each
        left (a new leader's memory of what it must not move again for the same episode)."""
        c = schema.stream_changes
        last_quarantine = (
            select(func.max(c.c.id))
            .where(c.c.reason == ChangeReason.QUARANTINE.value)
            .group_by(c.c.stream_id)
        )
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(c.c.id, c.c.stream_id, c.c.from_instance).where(
                        c.c.id.in_(last_quarantine)
                    )
                )
            ).all()
            if not rows:
                return {}
            ids = [int(r.stream_id) for r in rows]
            latest = select(func.max(c.c.id)).where(c.c.stream_id.in_(ids)).group_by(c.c.stream_id)
            newest = {int(i) for i in (await conn.execute(latest)).scalars()}
        return {int(r.stream_id): r.from_instance for r in rows if int(r.id) in newest}

    async def fleet_row(self) -> FleetRow:
        return _fleet(await read_fleet_row(self.engine))


def _upsert(registration: Registration, dialect: Dialect) -> Insert:
    """INSERT ... ON CONFLICT DO UPDATE of one registration (PostgreSQL or SQLite)."""
    i, f = schema.instances, schema.fleet_state
    now = database_now(dialect)
    values: dict[str, Any] = {
        "max_streams": registration.max_streams,
        "capabilities": registration.capabilities,
        "version": registration.version,
        "location": registration.location,
        "last_seen_at": now,
        # Reports received before this registration belong to a previous life.
        "last_report_at": now,
        "deregistered": False,
    }
    dialect_insert = postgresql.insert if is_postgresql(dialect) else sqlite.insert
    statement = dialect_insert(i).values(
        id=registration.instance_id,
        performance_score=1.0,
        state=InstanceState.REGISTERED.value,
        draining=False,
        registered_at=now,
        state_changed_at=now,
        heartbeat_count=0,
        # Never below any generation this id was answered before it was removed:
        # answers (generation, set) stay monotonic per instance id.
        generation=select(f.c.generation).where(f.c.id == schema.FLEET_ROW_ID).scalar_subquery(),
        applied_generation=0,
        reported_stream_ids=[],
        stats={},
        report_version=0,
        **values,
    )
    fresh_start = {
        "heartbeat_count": case((i.c.deregistered, 0), else_=i.c.heartbeat_count),
        "registered_at": case((i.c.deregistered, now), else_=i.c.registered_at),
        "report_version": i.c.report_version + 1,
    }
    return statement.on_conflict_do_update(index_elements=[i.c.id], set_=values | fresh_start)


async def _register_in_one_statement(
    conn: AsyncConnection, registration: Registration
) -> Registered:
    """The upsert as a CTE joined to the instance's holdings: row and desired set, one trip."""
    a, m = schema.assignments, schema.monitored_streams
    registered = (
        _upsert(registration, conn.dialect).returning(*schema.instances.c).cte("registered")
    )
    # The leader of another process plans for the newcomer now (delivered on commit).
    woken = select(func.pg_notify(REPORTS_CHANNEL, "").label("woken")).cte("woken")
    owned = a.join(m, m.c.id == a.c.stream_id)
    query = (
        select(
            registered,
            m.c.id.label("stream_id"),
            m.c.url.label("stream_url"),
            m.c.name.label("stream_name"),
            m.c.stream_metadata,
        )
        .select_from(
            registered.join(woken, true()).outerjoin(
                owned, (a.c.holder == registered.c.id) & (a.c.target == registered.c.id)
            )
        )
        .order_by(m.c.id)
    )
    rows = (await conn.execute(query)).all()
    streams = [
        DesiredStream(int(r.stream_id), r.stream_url, r.stream_name, dict(r.stream_metadata))
        for r in rows
        if r.stream_id is not None
    ]
    row = _instance(rows[0]._mapping)
    return Registered(row, DesiredSet(row.generation, streams))


def _instance(row: RowMapping) -> InstanceRow:
    return InstanceRow(
        id=row["id"],
        state=InstanceState(row["state"]),
        draining=bool(row["draining"]),
        max_streams=int(row["max_streams"]),
        capabilities=tuple(row["capabilities"] or ()),
        version=row["version"],
        location=row["location"],
        performance_score=float(row["performance_score"]),
        registered_at=row["registered_at"],
        last_seen_at=row["last_seen_at"],
        generation=int(row["generation"]),
        reported_stream_ids=tuple(row["reported_stream_ids"] or ()),
        stats=row["stats"] or {},
    )


def _change(row: RowMapping) -> StreamChange:
    return StreamChange(
        changed_at=row["changed_at"],
        generation=int(row["generation"]),
        stream_id=int(row["stream_id"]),
        from_instance=row["from_instance"],
        to_instance=row["to_instance"],
        reason=row["reason"],
    )


def _fleet(row: Mapping[str, Any]) -> FleetRow:
    return FleetRow(
        generation=int(row["generation"]),
        rebalances_automatic=int(row["rebalances_automatic"]),
        rebalances_manual=int(row["rebalances_manual"]),
        source_status=row["source_status"],
    )
