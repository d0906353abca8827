"""The in-memory tick store and lease answer as `TickStore` and `LeaderLease` do.

One monitor scenario (first placement, a steady tick, an instance falling silent) runs over
SQLite, PostgreSQL and memory; what each tick wrote is compared. The controller's unit tests
(tests/unit/orchestrator/test_controller.py) rely on it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from fingerv7.orchestrator.controller import FleetController
from fingerv7.orchestrator.leadership import Leadership, Lease
from fingerv7.orchestrator.settings import OrchestratorSettings
from fingerv7.storage import schema
from fingerv7.storage.fleet_rows import Registration
from fingerv7.storage.fleet_store import FleetStore
from fingerv7.storage.leader_lease import LeaderLease
from fingerv7.storage.memory_tick import InMemoryLease, InMemoryTickStore
from fingerv7.storage.tick_store import TickStorage, TickStore
from tests.support.listed_streams import ListedStreams

pytestmark = pytest.mark.integration

# No cold-start hold: the first tick places (the hold has its own tests, test_controller.py).
SETTINGS = OrchestratorSettings(_env_file=None, initial_placement_delay=0)  # type: ignore[call-arg]
SILENT_S = SETTINGS.heartbeat_timeout + 5
Step = Callable[[], Awaitable[None]]


async def _scenario(
    store: TickStorage, lease: Lease, silence_w1: Step, widen_w2: Step
) -> list[object]:
    """What the monitor wrote after each of three ticks, as the store reads it back."""
    leadership = Leadership(lease)
    assert await leadership.try_acquire()
    controller = FleetController(store, ListedStreams(6), SETTINGS, leadership)
    answers: list[object] = []
    try:
        for before in (None, None, silence_w1):
            if before is not None:
                await before()
                await widen_w2()
            await controller.tick()
            answers.append(await _written(store))
    finally:
        await leadership.release()
    return answers


async def _written(store: TickStorage) -> dict[str, Any]:
    fleet = await store.fleet_row()
    return {
        "holdings": await store.load_holdings(),
        "streams": sorted(await store.load_monitored_streams()),
        "instances": {
            r.id: (r.state, r.generation, r.max_streams) for r in await store.instance_rows({})
        },
        "fleet": (
            fleet.generation,
            fleet.rebalances_automatic,
            fleet.rebalances_manual,
            fleet.source_status,
        ),
    }


async def _memory_answers() -> tuple[list[object], list[tuple[int, int, str]]]:
    store = InMemoryTickStore()
    for instance_id in ("w1", "w2"):
        store.put_instance(instance_id, 5, last_seen_at=datetime.now(UTC))

    async def silence_w1() -> None:
        store.update_instance("w1", silent_s=SILENT_S)

    async def widen_w2() -> None:
        store.update_instance("w2", max_streams=10)

    answers = await _scenario(store, InMemoryLease(store), silence_w1, widen_w2)
    audit = [(generation, c.stream_id, c.reason.value) for generation, c in store.audit]
    return answers, audit


async def _set(engine: AsyncEngine, instance_id: str, **values: object) -> None:
    i = schema.instances
    async with engine.begin() as conn:
        await conn.execute(update(i).where(i.c.id == instance_id).values(**values))


async def _sql_answers(engine: AsyncEngine) -> tuple[list[object], list[tuple[int, int, str]]]:
    for instance_id in ("w1", "w2"):
        await FleetStore(engine).register(
            Registration(instance_id, 5, ["audio_fingerprinting"], "0.1", None)
        )
        # As put_instance: active, heard once, just now.
        await _set(engine, instance_id, state="active", heartbeat_count=1)

    async def silence_w1() -> None:
        await _set(engine, "w1", last_seen_at=datetime.now(UTC) - timedelta(seconds=SILENT_S))

    async def widen_w2() -> None:
        await _set(engine, "w2", max_streams=10)

    lease = LeaderLease(engine, "test-leader", SETTINGS.leader_lease_seconds)
    answers = await _scenario(TickStore(engine), lease, silence_w1, widen_w2)
    c = schema.stream_changes
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(c.c.generation, c.c.stream_id, c.c.reason).order_by(c.c.id)
        )
        audit = [(int(r[0]), int(r[1]), str(r[2])) for r in rows]
    return answers, audit


async def test_the_memory_tick_store_answers_as_the_database_does(
    migrated_engine: AsyncEngine,
) -> None:
    expected = await _sql_answers(migrated_engine)

    assert await _memory_answers() == expected
