"""STREAM_QUARANTINE_SECONDS over the protocol: a stream down too long on one instance moves to
the other once, reason `quarantine`; with the setting off (the default) it stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fingerv7.orchestrator.runtime import alert_pass_interval
from fingerv7.orchestrator.settings import OrchestratorSettings
from tests.support.instances import ScriptedInstance, seed_streams, settle_fleet
from tests.support.orchestrator import RunningOrchestrator, eventually

pytestmark = pytest.mark.integration

# The scripted instances stay ACTIVE between beats; stream-health passes run every second.
STEADY = {"heartbeat_timeout": 30, "stream_down_alert_seconds": 10}
LONG_AGO = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()


def down(stream_id: int) -> dict[str, Any]:
    return {
        "stream_health": [
            {"stream_id": stream_id, "state": "reconnecting", "since": LONG_AGO, "last_error": "x"}
        ]
    }


async def two_instances(orch: RunningOrchestrator) -> tuple[ScriptedInstance, ScriptedInstance]:
    a, b = ScriptedInstance(orch.client, "w1", 5), ScriptedInstance(orch.client, "w2", 5)
    for instance in (a, b):
        await instance.register()
    await settle_fleet(a, b, counts=[1, 1])
    return a, b


async def quarantine_changes(orch: RunningOrchestrator) -> list[dict[str, Any]]:
    status = (await orch.client.get("/streams/status")).json()
    return [c for c in status["recent_changes"] if c["reason"] == "quarantine"]


async def passes_and_ticks(orch: RunningOrchestrator, a: ScriptedInstance, b: ScriptedInstance):
    """Let two stream-health passes and the ticks after them run, the instances beating."""
    reviews, ticks = orch.runtime.quarantine.reviews, orch.runtime.controller.ticks

    async def done() -> bool:
        await a.follow()
        await b.follow()
        runtime = orch.runtime
        return runtime.quarantine.reviews >= reviews + 2 and runtime.controller.ticks > ticks + 2

    await eventually(done, what="two stream-health passes and the ticks after them")


async def test_a_stream_down_too_long_moves_to_the_other_instance_once(
    database_url, start_orchestrator
):
    seed_streams(database_url, 2)
    orch = await start_orchestrator(
        database_url=database_url, stream_quarantine_seconds=60, **STEADY
    )
    a, b = await two_instances(orch)
    (failing,) = a.running
    a.extra = down(failing)

    async def moved() -> bool:
        await a.follow()
        await b.follow()
        return failing in b.running and failing not in a.running

    await eventually(moved, 15, "the failing stream moved to the other instance")
    (change,) = await quarantine_changes(orch)
    assert change["stream_ids"] == [failing] and change["action"] == "move"
    assert "w1" in change["details"] and "w2" in change["details"]
    assert await orch.runtime.store.quarantined_streams() == {failing: "w1"}  # a new leader knows

    # Down on the new instance as well (the source itself is dead): not passed around, and the
    # rebalance that evens the two instances out moves the other stream, not this one.
    b.extra = down(failing)
    a.extra = {}
    await passes_and_ticks(orch, a, b)
    await settle_fleet(a, b, counts=[1, 1])
    assert failing in b.running
    assert len(await quarantine_changes(orch)) == 1
    assert failing in orch.runtime.quarantine.moved

    # Running again ends the episode.
    b.extra = {"stream_health": [{"stream_id": failing, "state": "running"}]}
    await passes_and_ticks(orch, a, b)
    assert failing not in orch.runtime.quarantine.moved


async def test_off_by_default_a_down_stream_stays(database_url, start_orchestrator):
    seed_streams(database_url, 2)
    orch = await start_orchestrator(database_url=database_url, **STEADY)
    a, b = await two_instances(orch)
    (failing,) = a.running
    a.extra = down(failing)
    await passes_and_ticks(orch, a, b)
    body = (await orch.client.get(f"/streams/{failing}")).json()
    assert body["instance_id"] == "w1" and body["health"]["state"] == "reconnecting"
    assert await quarantine_changes(orch) == []
    assert failing in a.running


def test_the_health_pass_runs_often_enough_for_the_quarantine_threshold() -> None:
    def interval(**values: Any) -> float:
        settings = OrchestratorSettings(_env_file=None, **values)  # type: ignore[call-arg]
        return alert_pass_interval(settings)

    assert interval() == 30  # a tenth of STREAM_DOWN_ALERT_SECONDS (300)
    assert interval(stream_quarantine_seconds=120) == 12
    assert interval(stream_quarantine_seconds=5) == 1  # never more than once a second
