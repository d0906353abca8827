"""Quiet monitor ticks (PostgreSQL): a fleet that only beats is ticked from digests, and any
other change still gets a full tick at once. (Silence is covered by every failover test on
PostgreSQL: a silent instance is declared at its deadline through quiet ticks.)"""

from __future__ import annotations

import asyncio

import pytest

from tests.support.instances import register_instances, seed_streams, settle_fleet

pytestmark = pytest.mark.integration


async def test_a_beating_fleet_is_ticked_from_digests_and_a_drain_still_acts_at_once(
    make_pg_database, start_orchestrator
):
    url = make_pg_database()
    seed_streams(url, 6)
    orch = await start_orchestrator(
        database_url=url,
        stream_sync_interval=3600,  # read once: a sync tick is a full tick
        # Nothing is due by time alone during the test: only a digest can trigger the full
        # tick that acts on the drain.
        heartbeat_warning_threshold=30,
        heartbeat_timeout=50,
    )
    controller = orch.runtime.controller
    a, b = await register_instances(orch.client, {"a": 10, "b": 10})
    await settle_fleet(a, b, counts=[3, 3])

    quiet_before, ticks_before = controller.quiet_ticks, controller.ticks
    while controller.ticks < ticks_before + 6:
        for instance in (a, b):
            await instance.beat()  # moves last_seen_at only: the same streams, same generation
        controller.wake()
        await asyncio.sleep(0.02)
    assert controller.quiet_ticks - quiet_before >= 4  # all but the one confirming the quiet

    drained = await orch.client.post("/instances/b/drain")
    assert drained.status_code == 200
    await settle_fleet(a, b, counts=[6, 0])
