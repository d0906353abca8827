"""The tick's fencing write: one statement at the end of the transaction, which also consumes a
manual rebalance request, level-triggered (a newer request survives the tick that consumed an
older one). Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from fingerv7.storage.fleet_store import FleetStore
from fingerv7.storage.leader_lease import LeaderLease
from fingerv7.storage.tick_store import StaleLeadershipError, TickStore, TickWrite, read_fleet_row

pytestmark = pytest.mark.integration

SEEN = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)  # when the first rebalance request was made


@pytest.fixture
async def epoch(migrated_engine: AsyncEngine) -> AsyncIterator[int]:
    """The leadership term the test's ticks write under (its lease keeps a connection)."""
    lease = LeaderLease(migrated_engine, "test-leader", 30)
    acquired = await lease.try_acquire()
    assert acquired is not None
    yield acquired
    await lease.release()


@pytest.fixture
async def generation(migrated_engine: AsyncEngine) -> int:
    """The fleet's generation once a rebalance was requested at SEEN."""
    await FleetStore(migrated_engine).request_rebalance(SEEN)
    return await TickStore(migrated_engine).fleet_generation()


def _tick(now: datetime, generation: int, consumed: datetime | None) -> TickWrite:
    return TickWrite(
        now=now,
        generation=generation,
        states={},
        state_changed=(),
        changed_instances=(),
        removed_instances=(),
        holdings={},
        changes=(),
        rebalanced=consumed is not None,
        rebalance_manual=consumed is not None,
        consumed_rebalance_request=consumed,
    )


async def test_a_tick_consumes_the_request_it_saw_and_not_a_newer_one(
    migrated_engine: AsyncEngine, epoch: int, generation: int
) -> None:
    store = TickStore(migrated_engine)
    await store.write_tick(
        _tick(SEEN, generation + 1, SEEN), epoch=epoch, expected_generation=generation
    )
    row = await read_fleet_row(migrated_engine)
    assert row["rebalance_requested_at"] is None
    assert row["generation"] == generation + 1

    newer = SEEN + timedelta(seconds=5)  # a request that arrives during the next tick
    await FleetStore(migrated_engine).request_rebalance(newer)
    await store.write_tick(
        _tick(SEEN, generation + 2, SEEN), epoch=epoch, expected_generation=generation + 1
    )
    row = await read_fleet_row(migrated_engine)
    assert row["rebalance_requested_at"] == newer
    assert row["rebalances_manual"] == 2


async def test_a_stale_epoch_writes_nothing_and_consumes_nothing(
    migrated_engine: AsyncEngine, epoch: int, generation: int
) -> None:
    with pytest.raises(StaleLeadershipError):
        await TickStore(migrated_engine).write_tick(
            _tick(SEEN, generation + 1, SEEN), epoch=epoch + 1, expected_generation=generation
        )
    row = await read_fleet_row(migrated_engine)
    assert row["rebalance_requested_at"] == SEEN
    assert row["generation"] == generation
