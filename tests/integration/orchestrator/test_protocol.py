"""The instance protocol over real HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import pytest

from fingerv7.storage.database import create_engine
from fingerv7.storage.fleet_rows import Registration
from fingerv7.storage.fleet_store import FleetStore
from tests.support.instances import (
    ScriptedInstance,
    register_instances,
    seed_streams,
    settle_fleet,
)
from tests.support.orchestrator import eventually

pytestmark = pytest.mark.integration


async def test_manual_example_300_streams_over_100_150_50(database_url, start_orchestrator):
    seed_streams(database_url, 300)
    orch = await start_orchestrator(database_url=database_url)
    fleet = [
        ScriptedInstance(orch.client, "fingerv7-001", 100),
        ScriptedInstance(orch.client, "fingerv7-002", 150),
        ScriptedInstance(orch.client, "fingerv7-003", 50),
    ]
    for instance in fleet:
        await instance.register()

    async def settled():
        for instance in fleet:
            await instance.follow()
        return [len(i.running) for i in fleet] == [100, 150, 50]

    await eventually(settled, what="100/150/50 distribution")
    owned = [i.running for i in fleet]
    assert set().union(*owned) == set(range(1, 301))
    assert sum(len(o) for o in owned) == 300  # disjoint

    status = (await orch.client.get("/streams/status")).json()
    assert status["streams"]["assigned"] == 300
    assert status["streams"]["unassigned"] == 0
    by_instance = {d["instance_id"]: set(d["stream_ids"]) for d in status["distribution"]}
    assert by_instance == {i.instance_id: i.running for i in fleet}


async def test_register_again_keeps_streams_and_updates_capacity(database_url, start_orchestrator):
    seed_streams(database_url, 10)
    orch = await start_orchestrator(database_url=database_url)
    solo = ScriptedInstance(orch.client, "solo", 20)
    await solo.register()
    await eventually(lambda: _follow_until(solo, 10), what="solo owns all 10")
    generation = solo.generation

    solo.max_streams = 30
    answer = await solo.register()
    assert answer["assigned_streams"] == 10
    await solo.beat()
    assert solo.desired == set(range(1, 11))
    detail = (await orch.client.get("/instances/solo")).json()
    assert detail["max_streams"] == 30
    assert detail["generation"] == generation


async def test_a_registration_storm_is_written_in_batches(database_url, start_orchestrator):
    """200 registrations at once (a fleet restart): all answered 200 with their own rows, one
    id sent twice in the storm registered once, in far fewer statements than registrations.

    The lease is the default's, not the fast tests' 1 s: 200 requests and their client share
    this process's event loop, and on a loaded machine a 1 s lease lapsed mid-storm (seen in CI,
    on SQLite: the leader stepped down and some registrations waited past the client's 30 s)."""
    orch = await start_orchestrator(database_url=database_url, leader_lease_seconds=5)

    async def register(instance_id: str, max_streams: int) -> dict:
        body = {
            "instance_id": instance_id,
            "max_streams": max_streams,
            "capabilities": ["audio_fingerprinting"],
        }
        response = await orch.client.post("/register", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    storm = [(f"storm-{n:03d}", 1 + n % 7) for n in range(199)] + [("storm-007", 3)]
    answers = await asyncio.gather(*(register(i, m) for i, m in storm))

    assert [a["instance_id"] for a in answers] == [i for i, _ in storm]
    assert 1 <= orch.runtime.registrations.batches < len(storm) // 4
    listed = {i["id"]: i for i in (await orch.client.get("/instances")).json()["instances"]}
    assert len(listed) == 199
    assert listed["storm-006"]["max_streams"] == 7
    assert listed["storm-007"]["max_streams"] in (1, 3)  # one of its two registrations won


async def test_a_batch_answers_each_instance_its_own_streams(database_url, start_orchestrator):
    """Re-registrations in one batch each get the streams they own (read in the same statement),
    a new one none; written straight through the store while no monitor moves anything."""
    seed_streams(database_url, 12)
    orch = await start_orchestrator(database_url=database_url)
    a, b = await register_instances(orch.client, {"a": 8, "b": 4})
    await settle_fleet(a, b, counts=[8, 4])
    await orch.stop()

    engine = create_engine(database_url)
    try:
        registered = await FleetStore(engine).register_many(
            [_registration("b", 5), _registration("new", 2), _registration("a", 9)]
        )
    finally:
        await engine.dispose()

    assert {key: {s.id for s in r.desired.streams} for key, r in registered.items()} == {
        "a": a.running,
        "b": b.running,
        "new": set(),
    }
    assert (registered["a"].row.max_streams, registered["b"].row.max_streams) == (9, 5)
    assert registered["a"].desired.generation == a.generation


def _registration(instance_id: str, max_streams: int) -> Registration:
    return Registration(instance_id, max_streams, ["audio_fingerprinting"], "7.1", None)


async def _follow_until(instance: ScriptedInstance, count: int) -> bool:
    await instance.follow()
    return len(instance.running) == count


async def test_heartbeat_from_unknown_instance_is_told_to_register(
    database_url, start_orchestrator
):
    orch = await start_orchestrator(database_url=database_url)
    response = await orch.client.post("/heartbeat", json={"instance_id": "ghost"})
    assert response.status_code == 404
    assert "POST /register" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {"instance_id": "a b", "max_streams": 5, "capabilities": ["audio_fingerprinting"]},
            "instance_id",
        ),
        (
            {"instance_id": "x" * 65, "max_streams": 5, "capabilities": ["audio_fingerprinting"]},
            "instance_id",
        ),
        (
            {"instance_id": "ok", "max_streams": 0, "capabilities": ["audio_fingerprinting"]},
            "max_streams",
        ),
        (
            {"instance_id": "ok", "max_streams": 1001, "capabilities": ["audio_fingerprinting"]},
            "max_streams",
        ),
        (
            {"instance_id": "ok", "max_streams": 5, "capabilities": ["metadata_extraction"]},
            "audio_fingerprinting",
        ),
        ({"instance_id": "ok", "max_streams": 5}, "capabilities"),
        (
            {"instance_id": "ok", "max_streams": "lots", "capabilities": ["audio_fingerprinting"]},
            "max_streams",
        ),
    ],
)
async def test_bad_registrations_get_a_clear_422(body, fragment, tmp_path, start_orchestrator):
    orch = await start_orchestrator(database_url=f"sqlite:///{tmp_path / 'o.db'}")
    response = await orch.client.post("/register", json=body)
    assert response.status_code == 422
    assert fragment in response.json()["detail"]
    assert (await orch.client.get("/instances")).json()["instances"] == []


async def test_malformed_json_and_oversized_bodies_are_refused(tmp_path, start_orchestrator):
    orch = await start_orchestrator(database_url=f"sqlite:///{tmp_path / 'o.db'}")
    response = await orch.client.post(
        "/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    huge = b'{"instance_id": "' + b"a" * 2_000_000 + b'"}'
    response = await orch.client.post(
        "/heartbeat", content=huge, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


async def test_stopping_heartbeat_must_report_no_streams(tmp_path, start_orchestrator):
    orch = await start_orchestrator(database_url=f"sqlite:///{tmp_path / 'o.db'}")
    instance = ScriptedInstance(orch.client, "w", 5)
    await instance.register()
    response = await orch.client.post(
        "/heartbeat", json={"instance_id": "w", "status": "stopping", "stream_ids": [1]}
    )
    assert response.status_code == 422
    assert "stream_ids: []" in response.json()["detail"]


async def test_long_poll_returns_as_soon_as_the_generation_moves(database_url, start_orchestrator):
    orch = await start_orchestrator(database_url=database_url)
    instance = ScriptedInstance(orch.client, "poller", 10)
    await instance.register()
    await instance.beat()
    start_generation = instance.last_generation_seen
    poll = asyncio.create_task(
        orch.client.get(
            "/instances/poller/assignment",
            params={"after_generation": start_generation, "wait": 30},
        )
    )
    began = time.monotonic()
    await asyncio.to_thread(seed_streams, database_url, 3)
    response = await poll
    assert response.status_code == 200
    body = response.json()
    assert body["generation"] > start_generation
    assert {s["id"] for s in body["streams"]} == {1, 2, 3}
    assert time.monotonic() - began < 15  # answered on the change, not at the 30 s wait


async def test_long_poll_for_unknown_instance_is_404(tmp_path, start_orchestrator):
    orch = await start_orchestrator(database_url=f"sqlite:///{tmp_path / 'o.db'}")
    response = await orch.client.get("/instances/nobody/assignment", params={"wait": 0})
    assert response.status_code == 404
