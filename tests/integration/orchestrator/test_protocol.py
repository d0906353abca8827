"""The instance protocol over real HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.instances import ScriptedInstance, seed_streams
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
