"""Quiet monitor ticks (PostgreSQL): a fleet that only beats is ticked from digests, and any
other change still gets a full tick at once. (Silence is covered by every failover test on
PostgreSQL: a silent instance is declared at its deadline through quiet ticks.)"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.instances import register_instances, seed_streams, settle_fleet
from tests.support.orchestrator import eventually

pytestmark = pytest.mark.integration


async def test_a_beating_fleet_is_ticked_from_digests_and_a_drain_still_acts_at_once(
    make_pg_database, start_orchestrator
):
    url = make_pg_database()
    seed_streams(url, 6)
    orch = await start_orchestrator(
        database_url=url,
        stream_sync_interval=0.2,  # syncs that find nothing new stay quiet too
        # Nothing is due by time alone during the test: only a digest can trigger the full
        # tick that acts on the drain.
        heartbeat_warning_threshold=30,
        heartbeat_timeout=50,
    )
    controller = orch.runtime.controller
    a, b = await register_instances(orch.client, {"a": 10, "b": 10})
    await settle_fleet(a, b, counts=[3, 3])

    async def beat_until_quiet_ticks(count: int) -> None:
        while controller.quiet_ticks < count:
            for instance in (a, b):
                await instance.beat()  # moves last_seen_at only: same streams, same generation
            controller.wake()
            await asyncio.sleep(0.02)

    # Handoffs settling after the first plan get full ticks; then the fleet only beats.
    await asyncio.wait_for(beat_until_quiet_ticks(controller.quiet_ticks + 4), timeout=10)

    drained = await orch.client.post("/instances/b/drain")
    assert drained.status_code == 200
    await settle_fleet(a, b, counts=[6, 0])


async def test_an_instance_back_from_silence_is_active_again_at_once(
    make_pg_database, start_orchestrator
):
    url = make_pg_database()
    seed_streams(url, 4)
    orch = await start_orchestrator(
        database_url=url,
        stream_sync_interval=3600,
        heartbeat_warning_threshold=1,
        # Once b is WARNING its next moment due by silence alone is 40 s after its last beat.
        heartbeat_timeout=40,
        instance_removal_timeout=80,
    )
    (b,) = await register_instances(orch.client, {"b": 10})
    await settle_fleet(b, counts=[4])
    controller = orch.runtime.controller

    # While b beats, quiet ticks keep the next moment due ahead of the clock (the soonest
    # threshold crossing the database sees), through and past the moment the last full tick
    # had computed: the monitor neither misses a crossing nor ticks in a busy loop.
    quiet, until = controller.quiet_ticks, time.monotonic() + 1.5
    while time.monotonic() < until:
        await b.beat()
        controller.wake()
        await asyncio.sleep(0.02)
    assert controller.quiet_ticks > quiet
    assert controller.next_due_at is not None and controller.next_due_at > time.time()

    async def status_of_b(wanted: str, *, b_beats: bool) -> bool:
        if b_beats:
            await b.beat()
        listed = (await orch.client.get("/instances")).json()["instances"]
        return {i["id"]: i["status"] for i in listed}["b"] == wanted

    await eventually(lambda: status_of_b("warning", b_beats=False), what="b WARNING")
    # A quiet tick knows when the next threshold is crossed (b INACTIVE, 40 s after its last
    # beat) and sleeps until then instead of ticking again and again.
    quiet = controller.quiet_ticks
    while controller.quiet_ticks < quiet + 2:
        controller.wake()
        await asyncio.sleep(0.02)
    assert controller.next_due_at is not None and controller.next_due_at > time.time() + 30
    await eventually(lambda: status_of_b("active", b_beats=True), what="b ACTIVE again")
