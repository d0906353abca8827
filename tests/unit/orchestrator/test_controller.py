"""The monitor's tick against an in-memory store and lease: no engine, no server.

Each test drives `FleetController.tick` step by step and reads what it wrote in the store; the
same store answers as `TickStore` does behind the same fence (storage/memory_tick.py). The
monitor over PostgreSQL and real processes stays in integration/ and acceptance/.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from fingerv7.core.planning.model import ChangeReason, InstanceState
from fingerv7.orchestrator.controller import FleetController
from fingerv7.orchestrator.leadership import Leadership
from fingerv7.orchestrator.settings import OrchestratorSettings
from fingerv7.storage.memory_tick import InMemoryLease, InMemoryTickStore
from fingerv7.storage.tick_store import StaleLeadershipError
from tests.support.listed_streams import ListedStreams

SEEN = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@dataclass
class Monitor:
    controller: FleetController
    store: InMemoryTickStore
    lease: InMemoryLease
    settings: OrchestratorSettings


@pytest.fixture
async def monitor() -> AsyncIterator[Monitor]:
    """The leader's monitor of two active instances (w1, w2: 5 slots each) and 6 streams,
    with no cold-start hold (its own tests below turn it on)."""
    async with _monitor(("w1", "w2"), initial_placement_delay=0) as running:
        yield running


@asynccontextmanager
async def _monitor(instances: Iterable[str], **settings_values: Any) -> AsyncIterator[Monitor]:
    settings = OrchestratorSettings(_env_file=None, **settings_values)  # type: ignore[call-arg]
    store = InMemoryTickStore()
    for instance_id in instances:
        store.put_instance(instance_id, 5, last_seen_at=SEEN)
    lease = InMemoryLease(store)
    leadership = Leadership(lease)
    assert await leadership.try_acquire()
    controller = FleetController(store, ListedStreams(6), settings, leadership)
    try:
        yield Monitor(controller, store, lease, settings)
    finally:
        await leadership.release()


def _targets(store: InMemoryTickStore) -> dict[int, str | None]:
    return {stream_id: h.target for stream_id, h in sorted(store.holdings.items())}


async def test_a_first_tick_places_every_stream_and_bumps_the_generation(
    monitor: Monitor,
) -> None:
    decision = await monitor.controller.tick()

    store = monitor.store
    assert sorted(store.streams) == [1, 2, 3, 4, 5, 6]
    assert Counter(_targets(store).values()) == {"w1": 3, "w2": 3}  # balanced
    assert store.fleet["generation"] == decision.generation == 1
    assert store.fleet["source_status"] == "healthy"
    assert [change.reason for _, change in store.audit] == [ChangeReason.NEW] * 6
    assert {store.instances[i].generation for i in ("w1", "w2")} == {1}


async def test_a_steady_fleet_writes_nothing(monitor: Monitor) -> None:
    await monitor.controller.tick()
    written, holdings = monitor.store.ticks_written, dict(monitor.store.holdings)

    await monitor.controller.tick()

    assert monitor.store.ticks_written == written
    assert monitor.store.holdings == holdings


async def test_a_silent_instance_goes_inactive_and_its_streams_fail_over(
    monitor: Monitor,
) -> None:
    await monitor.controller.tick()
    on_w1 = [s for s, target in _targets(monitor.store).items() if target == "w1"]
    monitor.store.update_instance("w1", silent_s=monitor.settings.heartbeat_timeout + 1)
    monitor.store.update_instance("w2", max_streams=10)  # room for all six

    await monitor.controller.tick()

    store = monitor.store
    assert store.instances["w1"].state is InstanceState.INACTIVE
    assert set(_targets(store).values()) == {"w2"}
    failed_over = sorted(c.stream_id for _, c in store.audit if c.reason is ChangeReason.FAILOVER)
    assert failed_over == on_w1
    assert store.fleet["generation"] == 2


async def test_a_leader_whose_lease_was_taken_writes_nothing(monitor: Monitor) -> None:
    await monitor.controller.tick()
    before = (dict(monitor.store.holdings), dict(monitor.store.fleet))
    monitor.lease.expire()  # paused past its lease...
    successor = InMemoryLease(monitor.store)
    assert await successor.try_acquire() == 2  # ...and another process took over
    monitor.store.update_instance("w1", silent_s=monitor.settings.heartbeat_timeout + 1)

    with pytest.raises(StaleLeadershipError):
        await monitor.controller.tick()

    assert (monitor.store.holdings, monitor.store.fleet) == before
    assert monitor.store.instances["w1"].state is InstanceState.ACTIVE


async def _until_due(controller: FleetController) -> None:
    """Wait for the moment the monitor itself would tick next (a time-based rule is due)."""
    due = controller.next_due_at
    assert due is not None
    await asyncio.sleep(max(0.0, due - time.time()))


async def test_a_cold_start_places_once_instances_stop_joining_and_moves_nothing_after() -> None:
    async with _monitor(["w1"], initial_placement_delay=0.3, rebalance_cooldown=0) as monitor:
        await monitor.controller.tick()
        assert monitor.store.holdings == {}  # held: more instances may be registering
        monitor.store.put_instance("w2", 5, last_seen_at=SEEN)
        await monitor.controller.tick()
        assert monitor.store.holdings == {}  # a join restarts the quiet time

        await _until_due(monitor.controller)
        await monitor.controller.tick()
        placed = _targets(monitor.store)
        await monitor.controller.tick()

        assert Counter(placed.values()) == {"w1": 3, "w2": 3}
        assert [change.reason for _, change in monitor.store.audit] == [ChangeReason.NEW] * 6
        assert _targets(monitor.store) == placed


async def test_without_the_hold_the_first_instance_takes_streams_the_next_one_moves() -> None:
    """The same joins with the hold off: streams placed on w1 move when w2 joins (what the
    hold saves a cold-starting fleet of 2,000 instances)."""
    async with _monitor(["w1"], initial_placement_delay=0, rebalance_cooldown=0) as monitor:
        await monitor.controller.tick()
        monitor.store.put_instance("w2", 5, last_seen_at=SEEN)
        await monitor.controller.tick()

        reasons = Counter(change.reason for _, change in monitor.store.audit)
        assert reasons[ChangeReason.NEW] == 6 and sum(reasons.values()) > 6


async def test_once_streams_run_a_failover_onto_a_new_instance_is_not_held() -> None:
    async with _monitor(["w1", "w2"], initial_placement_delay=0.2) as monitor:
        await monitor.controller.tick()
        await _until_due(monitor.controller)
        await monitor.controller.tick()
        on_w1 = {s for s, target in _targets(monitor.store).items() if target == "w1"}
        assert on_w1
        monitor.store.put_instance("w3", 5, last_seen_at=SEEN)
        monitor.store.update_instance("w1", silent_s=monitor.settings.heartbeat_timeout + 1)

        await monitor.controller.tick()

        targets = _targets(monitor.store)
        assert all(targets[s] in ("w2", "w3") for s in on_w1)
