"""The change audit is pruned by age on a real database, keeping each stream's latest change."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from fingerv7.core.planning.model import ChangeReason
from fingerv7.core.reconcile import TickDecision
from fingerv7.orchestrator.audit_retention import ChangeAuditRetention
from fingerv7.orchestrator.tick_observers import TickFacts
from fingerv7.storage import schema
from fingerv7.storage.fleet_store import FleetStore

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def change(stream_id: int, age: timedelta, reason: ChangeReason) -> dict[str, object]:
    return {
        "changed_at": NOW - age,
        "generation": 1,
        "stream_id": stream_id,
        "from_instance": "w1",
        "to_instance": "w2",
        "reason": reason.value,
    }


async def audit(engine: AsyncEngine) -> list[tuple[int, int]]:
    c = schema.stream_changes
    async with engine.connect() as conn:
        rows = await conn.execute(select(c.c.stream_id, c.c.changed_at).order_by(c.c.id))
        return [(int(r.stream_id), round((NOW - r.changed_at) / DAY)) for r in rows]


def facts(now: datetime) -> TickFacts:
    return TickFacts(now, TickDecision(states={}), None, [], None)


async def test_old_history_goes_and_each_streams_latest_change_stays(
    migrated_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    async with migrated_engine.begin() as conn:
        await conn.execute(
            insert(schema.stream_changes),
            [
                change(1, 90 * DAY, ChangeReason.NEW),
                change(1, 40 * DAY, ChangeReason.FAILOVER),
                change(2, 60 * DAY, ChangeReason.NEW),
                change(2, 50 * DAY, ChangeReason.QUARANTINE),  # its latest: kept, still counts
                change(1, 2 * DAY, ChangeReason.REBALANCE),
                change(3, 35 * DAY, ChangeReason.NEW),
                change(3, 1 * DAY, ChangeReason.DRAIN),
            ],
        )
    store = FleetStore(migrated_engine)
    retention = ChangeAuditRetention(store.prune_changes, 30, batch=2)

    with caplog.at_level(logging.INFO, logger="fingerv7.orchestrator"):
        await retention(facts(NOW))

    assert await audit(migrated_engine) == [(2, 50), (1, 2), (3, 1)]
    assert await store.quarantined_streams() == {2: "w1"}
    assert "deleted 4 changes older than 30 days" in caplog.text


async def test_rounds_wait_for_the_period_unless_a_backlog_remains(
    migrated_engine: AsyncEngine,
) -> None:
    async with migrated_engine.begin() as conn:
        await conn.execute(
            insert(schema.stream_changes),
            [change(1, (100 - n) * DAY, ChangeReason.REBALANCE) for n in range(11)],
        )
    store = FleetStore(migrated_engine)
    retention = ChangeAuditRetention(store.prune_changes, 30, batch=2, every_s=3600)

    await retention(facts(NOW))  # four batches of two: a backlog remains
    assert len(await audit(migrated_engine)) == 3
    await retention(facts(NOW + timedelta(seconds=5)))  # the backlog goes on at the next tick
    assert await audit(migrated_engine) == [(1, 90)]
    async with migrated_engine.begin() as conn:
        await conn.execute(insert(schema.stream_changes), [change(1, 0 * DAY, ChangeReason.DRAIN)])
    await retention(facts(NOW + timedelta(seconds=10)))  # not due: the last round finished
    assert len(await audit(migrated_engine)) == 2
    await retention(facts(NOW + timedelta(seconds=3610)))
    assert await audit(migrated_engine) == [(1, 0)]


async def test_retention_zero_keeps_everything(migrated_engine: AsyncEngine) -> None:
    async with migrated_engine.begin() as conn:
        await conn.execute(
            insert(schema.stream_changes),
            [change(1, 400 * DAY, ChangeReason.NEW), change(1, 300 * DAY, ChangeReason.DRAIN)],
        )
    retention = ChangeAuditRetention(FleetStore(migrated_engine).prune_changes, 0)
    await retention(facts(NOW))
    assert len(await audit(migrated_engine)) == 2
