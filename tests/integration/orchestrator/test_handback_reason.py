"""A clean SIGTERM hand-back is `released`, not `failover` like a crash."""

from __future__ import annotations

import pytest

from tests.support.instances import ScriptedInstance, seed_streams, settle_fleet
from tests.support.orchestrator import eventually

pytestmark = pytest.mark.integration


async def test_stopping_hands_streams_back_as_released(database_url, start_orchestrator):
    seed_streams(database_url, 4)
    orch = await start_orchestrator(database_url=database_url, heartbeat_timeout=30)
    first, second = ScriptedInstance(orch.client, "w1", 4), ScriptedInstance(orch.client, "w2", 4)
    await first.register()
    await settle_fleet(first, counts=[4])
    await second.register()
    await settle_fleet(first, second, counts=[2, 2])

    moved_from_first = set(first.running)
    first.running = set()
    await first.beat(status="stopping")  # SIGTERM: every stream stopped, then announced

    async def reasons() -> dict[int, str]:
        """Each stream's newest move away from w1 (recent_changes is newest first)."""
        await second.follow()
        changes = (await orch.client.get("/streams/status")).json()["recent_changes"]
        newest: dict[int, str] = {}
        for change in changes:
            if change["action"] == "move" and "from w1" in change["details"]:
                for stream_id in change["stream_ids"]:
                    newest.setdefault(stream_id, change["reason"])
        return {s: r for s, r in newest.items() if s in moved_from_first}

    found = await eventually(
        lambda: _moved(reasons, moved_from_first), what="w1's streams moved to w2"
    )
    assert set(found.values()) == {"released"}


async def _moved(reasons, expected: set[int]) -> dict[int, str] | None:
    found = await reasons()
    return found if set(found) >= expected else None
