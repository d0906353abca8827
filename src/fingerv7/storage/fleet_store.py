"""The orchestrator's request-side reads and writes, one short transaction each.

Writers are partitioned so they never contend: request handlers write only their own instance's
row (registration, operator flags; heartbeats go through `report_store` in batches); only the
leader's monitor tick (`tick_store`) writes assignments, monitored streams, the audit and the
fleet generation. No table locks, no lock rows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    ScalarSelect,
    String,
    Text,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert

from fingerv7.core.planning.model import ChangeReason, InstanceState
from fingerv7.storage import schema
from fingerv7.storage.clock import database_now, is_postgresql
from fingerv7.storage.database import retrying
from fingerv7.storage.errors import map_database_errors
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

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; its SQLAlchemy errors leave as storage errors."""
        with map_database_errors():
            async with self.engine.connect() as conn:
                yield conn

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """One transaction; its SQLAlchemy errors leave as storage errors."""
        with map_database_errors():
            async with self.engine.begin() as conn:
                yield conn

    async def register(self, registration: Registration) -> Registered:
        """Insert or update one instance (see `register_many`)."""
        return (await self.register_many([registration]))[registration.instance_id]

    async def register_many(self, registrations: Sequence[Registration]) -> dict[str, Registered]:
        """Insert or update instances; never touches their streams (idempotent re-register).

        An upsert, so concurrent first registrations of one id, or a registration racing the
        monitor's removal of the same id, all end in one registered row (of one id given twice
        here, the later registration wins). Each answer's desired set is read in the same
        snapshot (a re-registered instance keeps its streams). On PostgreSQL all of it is one
        statement in autocommit, one round trip for the whole batch: a fleet restart registers
        thousands at once, and each round trip waits its turn on a busy event loop.
        Registering changes nobody's desired set, so no cache is told to refresh; the leader
        is woken (in this process by the caller, in another by NOTIFY in the same statement).
        """
        latest = list({r.instance_id: r for r in registrations}.values())

        async def transaction() -> dict[str, Registered]:
            if is_postgresql(self.engine.dialect):
                async with self._autocommit.connect() as conn:
                    return await _register_in_one_statement(conn, latest)
            async with self.engine.begin() as conn:
                rows = {}
                for registration in latest:
                    upsert = _upsert_one(registration, conn.dialect)
                    row = (await conn.execute(upsert.returning(*schema.instances.c))).one()
                    rows[registration.instance_id] = _instance(row._mapping)
                desired = await read_desired_sets(conn, list(rows))
                return {key: Registered(row, desired[key]) for key, row in rows.items()}

        with map_database_errors():
            return await retrying(transaction)

    async def streams_held_by_others(
        self, instance_id: str, stream_ids: Iterable[int]
    ) -> list[int]:
        """Of the streams an instance says it runs, those it does not hold (discrepancies)."""
        ids = sorted(set(stream_ids))
        if not ids:
            return []
        a = schema.assignments
        async with self._reading() as conn:
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
        async with self._writing() as conn:
            result = await conn.execute(
                update(i).where(i.c.id == instance_id, i.c.deregistered.is_(False)).values(**values)
            )
            await notify(conn, REPORTS_CHANNEL)
            await notify(conn, ASSIGNMENTS_CHANNEL)
        return bool(result.rowcount)

    async def request_rebalance(self, now: datetime) -> None:
        f = schema.fleet_state
        async with self._writing() as conn:
            await conn.execute(
                update(f).where(f.c.id == schema.FLEET_ROW_ID).values(rebalance_requested_at=now)
            )
            await notify(conn, REPORTS_CHANNEL)

    async def prune_changes(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` audit rows older than `before`, oldest first, keeping each
        stream's latest change (a new leader's quarantine memory reads it); returns how many."""
        c = schema.stream_changes
        newer = schema.stream_changes.alias("newer")
        has_newer = (
            select(newer.c.id)
            .where(newer.c.stream_id == c.c.stream_id, newer.c.id > c.c.id)
            .exists()
        )
        doomed = (
            select(c.c.id).where(c.c.changed_at < before, has_newer).order_by(c.c.id).limit(limit)
        )
        async with self._writing() as conn:
            # The ids first: SQLite and PostgreSQL both take a plain IN list of them.
            ids = list((await conn.execute(doomed)).scalars())
            if ids:
                await conn.execute(delete(c).where(c.c.id.in_(ids)))
        return len(ids)

    # ----- reads for the status endpoints ---------------------------------------------------

    async def instances(self) -> list[InstanceRow]:
        i = schema.instances
        async with self._reading() as conn:
            rows = await conn.execute(select(i).where(i.c.deregistered.is_(False)).order_by(i.c.id))
            return [_instance(r._mapping) for r in rows]

    async def instance(self, instance_id: str) -> InstanceRow | None:
        i = schema.instances
        async with self._reading() as conn:
            row = (
                await conn.execute(
                    select(i).where(i.c.id == instance_id, i.c.deregistered.is_(False))
                )
            ).one_or_none()
        return None if row is None else _instance(row._mapping)

    async def assignment_counts(self) -> dict[str, int]:
        """Streams each instance owns now (target and holder agree)."""
        a = schema.assignments
        async with self._reading() as conn:
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
        async with self._reading() as conn:
            rows = await conn.execute(query)
            return [StreamOwnership(int(r[0]), r[1], r[2]) for r in rows]

    async def stream_names(self, stream_ids: Sequence[int]) -> dict[int, str]:
        """Names of those of `stream_ids` that are monitored."""
        if not stream_ids:
            return {}
        m = schema.monitored_streams
        query = select(m.c.id, m.c.name).where(m.c.id.in_(list(stream_ids)))
        async with self._reading() as conn:
            return {int(r.id): r.name for r in await conn.execute(query)}

    async def recent_changes(self, limit: int = 100) -> list[StreamChange]:
        c = schema.stream_changes
        async with self._reading() as conn:
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
        async with self._reading() as conn:
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
        with map_database_errors():
            return FleetRow.of(await read_fleet_row(self.engine))


_REGISTERED_FIELDS = ("id", "max_streams", "capabilities", "version", "location")
# What a registration sets on an instance that exists already; the rest is kept.
_UPDATED_ON_REGISTRATION = (
    "max_streams",
    "capabilities",
    "version",
    "location",
    "last_seen_at",
    "last_report_at",
    "deregistered",
)


def _new_instance(registered: Mapping[str, Any], dialect: Dialect) -> dict[str, Any]:
    """Every column of a newly registered instance, from the registration's own fields."""
    i, f = schema.instances, schema.fleet_state
    now = database_now(dialect)
    return {
        **registered,
        "performance_score": 1.0,
        "state": InstanceState.REGISTERED.value,
        "draining": False,
        "deregistered": False,
        "registered_at": now,
        "last_seen_at": now,
        "state_changed_at": now,
        # Reports received before this registration belong to a previous life.
        "last_report_at": now,
        "heartbeat_count": 0,
        # Never below any generation this id was answered before it was removed:
        # answers (generation, set) stay monotonic per instance id.
        "generation": select(f.c.generation).where(f.c.id == schema.FLEET_ROW_ID).scalar_subquery(),
        "applied_generation": 0,
        "reported_stream_ids": literal([], i.c.reported_stream_ids.type),
        "stats": literal({}, i.c.stats.type),
        "report_version": 0,
    }


def _on_conflict_update(statement: PgInsert | SqliteInsert) -> Insert:
    """A registration of an existing id updates it; a removed one starts a fresh life."""
    i = schema.instances
    fresh_start = {
        "heartbeat_count": case((i.c.deregistered, 0), else_=i.c.heartbeat_count),
        "registered_at": case(
            (i.c.deregistered, statement.excluded.registered_at), else_=i.c.registered_at
        ),
        "report_version": i.c.report_version + 1,
    }
    updated = {name: statement.excluded[name] for name in _UPDATED_ON_REGISTRATION}
    return statement.on_conflict_do_update(index_elements=[i.c.id], set_=updated | fresh_start)


def _upsert_one(registration: Registration, dialect: Dialect) -> Insert:
    """INSERT ... ON CONFLICT DO UPDATE of one registration (SQLite, one at a time)."""
    fields = {name: getattr(registration, name) for name in _REGISTERED_FIELDS[1:]}
    row = _new_instance({"id": registration.instance_id, **fields}, dialect)
    return _on_conflict_update(sqlite_insert(schema.instances).values(**row))


def _upsert_many(registrations: Sequence[Registration], dialect: Dialect) -> Insert:
    """PostgreSQL: every registration in one `INSERT ... SELECT FROM unnest(arrays)`."""
    i = schema.instances
    arrays = func.unnest(
        bindparam("ids", [r.instance_id for r in registrations], type_=ARRAY(String)),
        bindparam("max_streams", [r.max_streams for r in registrations], type_=ARRAY(Integer)),
        bindparam(
            "capabilities", [json.dumps(r.capabilities) for r in registrations], type_=ARRAY(Text)
        ),
        bindparam("versions", [r.version for r in registrations], type_=ARRAY(String)),
        bindparam("locations", [r.location for r in registrations], type_=ARRAY(String)),
    )
    given = arrays.table_valued(*_REGISTERED_FIELDS).render_derived(name="given")
    registered: dict[str, ColumnElement[Any]] = {name: given.c[name] for name in _REGISTERED_FIELDS}
    registered["capabilities"] = cast(given.c.capabilities, i.c.capabilities.type)
    row = _new_instance(registered, dialect)
    source = select(*(_as_column(value).label(name) for name, value in row.items()))
    return _on_conflict_update(pg_insert(i).from_select(list(row), source.select_from(given)))


def _as_column(value: Any) -> ColumnElement[Any]:
    return value if isinstance(value, ColumnElement | ScalarSelect) else literal(value)


async def _register_in_one_statement(
    conn: AsyncConnection, registrations: Sequence[Registration]
) -> dict[str, Registered]:
    """The upsert as a CTE joined to the instances' holdings: rows and desired sets, one trip."""
    a, m = schema.assignments, schema.monitored_streams
    registered = (
        _upsert_many(registrations, conn.dialect).returning(*schema.instances.c).cte("registered")
    )
    # The leader of another process plans for the newcomers now (delivered on commit).
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
        .order_by(registered.c.id, m.c.id)
    )
    rows: dict[str, InstanceRow] = {}
    streams: dict[str, list[DesiredStream]] = {}
    for r in await conn.execute(query):
        if r.id not in rows:
            rows[r.id], streams[r.id] = _instance(r._mapping), []
        if r.stream_id is not None:
            streams[r.id].append(
                DesiredStream(
                    int(r.stream_id), r.stream_url, r.stream_name, dict(r.stream_metadata)
                )
            )
    return {
        key: Registered(row, DesiredSet(row.generation, streams[key])) for key, row in rows.items()
    }


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
