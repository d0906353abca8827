"""Failure handling over real HTTP: dead, drained, deregistered and stopping instances."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.instances import ScriptedInstance, register_instances, seed_streams, settle_fleet
from tests.support.orchestrator import eventually

pytestmark = pytest.mark.integration


async def _ticks_pass(orch, count: int = 3) -> None:
    """Let the monitor run `count` more ticks (woken at once)."""
    target = orch.runtime.controller.ticks + count
    while orch.runtime.controller.ticks < target:
        orch.runtime.controller.wake()
        await asyncio.sleep(0.02)


def assert_never_two_owners(*instances: ScriptedInstance) -> None:
    """No stream is desired by one instance while another still runs it or wants it."""
    for a in instances:
        for b in instances:
            if a is not b:
                assert not (a.desired & b.running), (a.instance_id, b.instance_id)
                assert not (a.desired & b.desired)


async def test_handoff_waits_until_the_old_holder_lets_go(database_url, start_orchestrator):
    seed_streams(database_url, 10)
    orch = await start_orchestrator(database_url=database_url)
    a = ScriptedInstance(orch.client, "a", 10)
    await a.register()
    await settle_fleet(a, counts=[10])

    b = ScriptedInstance(orch.client, "b", 10)
    await b.register()
    await eventually(lambda: _revoked_from(a, 5), what="half of a's streams revoked")
    # a has been told to drop 5 streams but has not applied that yet: b must not get them.
    await _ticks_pass(orch)
    await b.beat()
    assert b.desired == set()
    assert_never_two_owners(a, b)

    # a applies the new generation and reports it; only then does b receive the streams.
    a.running = set(a.desired)
    a.generation = a.last_generation_seen
    await a.beat()
    await eventually(lambda: _desires(b, 5), what="b granted 5 streams")
    assert_never_two_owners(a, b)
    assert a.running.isdisjoint(b.desired)


async def _revoked_from(instance: ScriptedInstance, count: int) -> bool:
    await instance.beat()
    return len(instance.desired) == count


async def _desires(instance: ScriptedInstance, count: int) -> bool:
    await instance.beat()
    return len(instance.desired) == count


async def test_a_silent_instance_is_failed_over_then_recovers(database_url, start_orchestrator):
    seed_streams(database_url, 10)
    orch = await start_orchestrator(database_url=database_url)
    a, b = await register_instances(orch.client, {"a": 10, "b": 10})
    await settle_fleet(a, b, counts=[5, 5])

    a_silent_since = time.monotonic()  # a stops beating; b keeps following

    async def b_has_everything() -> bool:
        await b.follow()
        return len(b.running) == 10

    await eventually(b_has_everything, timeout_s=10, what="b owns all streams")
    failover_s = time.monotonic() - a_silent_since
    assert failover_s <= orch.runtime.settings.heartbeat_timeout + 1.5
    state = (await orch.client.get("/instances/a")).json()["status"]
    assert state == "inactive"
    changes = (await orch.client.get("/streams/status")).json()["recent_changes"]
    assert any(c["reason"] == "failover" and "from a to b" in c["details"] for c in changes)

    # a comes back: RECOVERING, gets streams back through the planner once b lets go, then ACTIVE.
    a.running = set()
    a.generation = 0
    await a.beat()

    async def recovered() -> bool:
        await a.follow()
        await b.follow()
        assert_never_two_owners(a, b)
        row = (await orch.client.get("/instances/a")).json()
        return row["status"] == "active" and len(a.running) == 5 and len(b.running) == 5

    await eventually(recovered, what="a active again with 5 streams")


async def test_drain_moves_streams_away_and_gives_nothing_new(database_url, start_orchestrator):
    seed_streams(database_url, 8)
    orch = await start_orchestrator(database_url=database_url, orchestrator_admin_key="adm1n-key")
    a, b = await register_instances(orch.client, {"a": 10, "b": 10})
    await settle_fleet(a, b, counts=[4, 4])

    response = await orch.client.post("/instances/a/drain")
    assert response.status_code == 200
    await settle_fleet(a, b, counts=[0, 8])
    row = (await orch.client.get("/instances/a")).json()
    assert row["draining"] is True
    await asyncio.to_thread(seed_streams, database_url, 2, start=100)
    await settle_fleet(a, b, counts=[0, 10])


async def test_deregistered_instance_loses_its_streams_at_once(database_url, start_orchestrator):
    seed_streams(database_url, 6)
    orch = await start_orchestrator(database_url=database_url)
    a, b = await register_instances(orch.client, {"a": 10, "b": 10})
    await settle_fleet(a, b, counts=[3, 3])

    assert (await orch.client.delete("/instances/a")).status_code == 200
    await eventually(lambda: _desires(b, 6), what="b granted all 6")
    response = await orch.client.post("/heartbeat", json={"instance_id": "a", "stream_ids": [1]})
    assert response.status_code == 404
    ids = [i["id"] for i in (await orch.client.get("/instances")).json()["instances"]]
    assert ids == ["b"]


async def test_stopping_instance_hands_over_immediately(database_url, start_orchestrator):
    seed_streams(database_url, 6)
    orch = await start_orchestrator(database_url=database_url)
    a, b = await register_instances(orch.client, {"a": 10, "b": 10})
    await settle_fleet(a, b, counts=[3, 3])

    a.running = set()
    await a.beat(status="stopping")
    await eventually(lambda: _desires(b, 6), what="b granted all 6")
    await eventually(lambda: _instance_ids_are(orch, ["b"]), what="a forgotten after stopping")


async def _instance_ids_are(orch, expected: list[str]) -> bool:
    body = (await orch.client.get("/instances")).json()
    return [i["id"] for i in body["instances"]] == expected


async def test_streams_run_without_ownership_are_flagged_and_removed(
    database_url, start_orchestrator
):
    seed_streams(database_url, 4)
    orch = await start_orchestrator(database_url=database_url)
    a, b = await register_instances(orch.client, {"a": 2, "b": 2})
    await settle_fleet(a, b, counts=[2, 2])

    stray = next(iter(b.running))
    a.running.add(stray)
    answer = await a.beat()
    assert {"type": "stream_update", "stream_id": stray, "action": "remove"} in answer["commands"]
    metrics = (await orch.client.get("/metrics")).json()
    assert metrics["instance_metrics"]["discrepancies"] == 1
    prom = (await orch.client.get("/metrics/prometheus")).text
    assert "fingerv7_discrepancies_total 1.0" in prom


async def test_insufficient_capacity_reports_unassigned_streams(database_url, start_orchestrator):
    seed_streams(database_url, 10)
    orch = await start_orchestrator(database_url=database_url)
    a = ScriptedInstance(orch.client, "a", 4)
    await a.register()
    await settle_fleet(a, counts=[4])
    status = (await orch.client.get("/streams/status")).json()
    assert status["streams"]["unassigned"] == 6
    assert len(status["unassigned_stream_ids"]) == 6
    health = (await orch.client.get("/health")).json()
    assert health["status"] == "degraded"
    assert "unassigned_streams" in health["degraded"]
    assert health["streams"]["unassigned"] == 6

    b = ScriptedInstance(orch.client, "b", 10)
    await b.register()
    await settle_fleet(a, b, counts=[3, 7])  # proportional to capacity 4:10
    assert (await orch.client.get("/streams/status")).json()["streams"]["unassigned"] == 0
