"""The in-memory fleet store answers as `FleetStore` does, on SQLite and on PostgreSQL.

One scenario (registrations, operator actions, what the monitor wrote) runs against both; every
answer is compared, times of the database's clock aside. The API's in-process tests rely on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from fingerv7.core.planning.model import ChangeReason, InstanceState
from fingerv7.storage import schema
from fingerv7.storage.fleet_rows import (
    FleetRow,
    FleetStorage,
    InstanceRow,
    Registered,
    Registration,
    StreamChange,
)
from fingerv7.storage.fleet_store import FleetStore
from fingerv7.storage.memory_fleet import InMemoryFleetStore
from fingerv7.storage.report_store import DesiredStream, ReportStorage, ReportStore, StoredReport

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
STREAMS = [
    DesiredStream(i, f"http://radio.example/{i}", f"Radio {i}", {"regiao": "Sul"})
    for i in (1, 2, 3, 4)
]
OWNERS = {1: ("w1", "w1"), 2: ("w1", None), 3: ("w2", "w2")}  # 4: never assigned
CHANGES = [
    StreamChange(T0, 1, 3, None, "w2", ChangeReason.NEW.value),
    StreamChange(T0 + timedelta(seconds=1), 2, 1, "w2", "w1", ChangeReason.QUARANTINE.value),
    StreamChange(T0 + timedelta(seconds=2), 3, 3, "w2", "w1", ChangeReason.QUARANTINE.value),
    StreamChange(T0 + timedelta(seconds=3), 4, 3, "w1", "w2", ChangeReason.REBALANCE.value),
    StreamChange(T0 + timedelta(seconds=4), 4, 1, "w2", "w1", ChangeReason.REBALANCE.value),
]
FLEET = FleetRow(generation=4, rebalances_automatic=2, rebalances_manual=1, source_status="healthy")


def _instance(row: InstanceRow | None) -> dict[str, Any] | None:
    """The row without the database clock's times."""
    if row is None:
        return None
    return dataclasses.asdict(row) | {"registered_at": None, "last_seen_at": None}


def _registered(answer: Registered) -> tuple[object, ...]:
    return _instance(answer.row), answer.desired


async def _scenario(
    store: FleetStorage, reports: ReportStorage, seed: Callable[[], Any]
) -> list[object]:
    """Everything the API asks of a store, in the order a fleet's life would ask it."""
    answers: list[object] = []
    for instance_id, max_streams in (("w2", 5), ("w1", 10)):
        registration = Registration(instance_id, max_streams, ["audio_fingerprinting"], "0.1", None)
        answers.append(_registered(await store.register(registration)))
    await seed()  # the monitor's writes and a heartbeat's report
    answers += [
        [_instance(row) for row in await store.instances()],
        _instance(await store.instance("w1")),
        _instance(await store.instance("nobody")),
        await store.assignment_counts(),
        await store.ownership(),
        await store.ownership(3),
        await store.ownership(99),
        await store.recent_changes(limit=3),
        await store.stream_names([4, 1, 99]),
        await store.stream_names([]),
        await store.quarantined_streams(),
        await store.streams_held_by_others("w1", [5, 3, 1, 2, 1]),
        await store.streams_held_by_others("w1", []),
        await store.fleet_row(),
        await reports.instance_generations(),
        await reports.desired_sets(["w2", "nobody", "w1"]),
    ]
    heard = StoredReport("w1", 0.0, 2, [1, 3], 1, {"cpu_usage": 7.0}, stopping=False)
    await reports.write_reports([heard], wake_leader=False)
    answers += [
        _instance(await store.instance("w1")),
        await store.set_draining("w2", True),
        await store.set_draining("nobody", True),
        await store.deregister("w2"),
        await store.deregister("w2"),
        await store.set_draining("w2", False),
        [_instance(row) for row in await store.instances()],
        _instance(await store.instance("w2")),
    ]
    # Registered again: w1 keeps its streams; w2 comes back still draining.
    for instance_id in ("w1", "w2"):
        registration = Registration(instance_id, 7, ["audio_fingerprinting"], "0.2", "sp")
        answers.append(_registered(await store.register(registration)))
    answers.append([_instance(row) for row in await store.instances()])
    # The audit's retention: only stream 1's first change is old and has a newer one.
    answers += [
        await store.prune_changes(T0 + timedelta(seconds=2), 100),
        await store.recent_changes(limit=10),
        await store.quarantined_streams(),
    ]
    return answers


async def _memory_answers() -> list[object]:
    store = InMemoryFleetStore(clock=lambda: T0)

    async def seed() -> None:
        store.monitor(STREAMS)
        for stream_id, (target, holder) in OWNERS.items():
            store.assign(stream_id, target, holder)
        for change in CHANGES:
            store.audit(change)
        store.fleet = FLEET
        store.report(
            "w1", state=InstanceState.ACTIVE, reported_stream_ids=(1,), stats={"cpu_usage": 3.5}
        )

    return await _scenario(store, store, seed)


async def _sql_seed(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(schema.monitored_streams),
            [
                {
                    "id": s.id,
                    "url": s.url,
                    "name": s.name,
                    "stream_metadata": s.metadata,
                    "synced_at": T0,
                }
                for s in STREAMS
            ],
        )
        await conn.execute(
            insert(schema.assignments),
            [
                {"stream_id": s, "target": target, "holder": holder, "updated_at": T0}
                for s, (target, holder) in OWNERS.items()
            ],
        )
        await conn.execute(insert(schema.stream_changes), [dataclasses.asdict(c) for c in CHANGES])
        await conn.execute(
            update(schema.fleet_state)
            .where(schema.fleet_state.c.id == schema.FLEET_ROW_ID)
            .values(**dataclasses.asdict(FLEET))
        )
        await conn.execute(
            update(schema.instances)
            .where(schema.instances.c.id == "w1")
            .values(
                state=InstanceState.ACTIVE.value, reported_stream_ids=[1], stats={"cpu_usage": 3.5}
            )
        )


async def test_the_memory_store_answers_as_the_database_does(migrated_engine: AsyncEngine) -> None:
    expected = await _scenario(
        FleetStore(migrated_engine),
        ReportStore(migrated_engine),
        lambda: _sql_seed(migrated_engine),
    )

    assert await _memory_answers() == expected
