"""Two real workers with their own keys; a third party holding one worker's key forges calls in
the other's name. Every forged call is refused and the victim's streams never move."""

from __future__ import annotations

from pathlib import Path

import httpx

from fingerv7.core.credentials import instance_key
from fingerv7.worker.sample_streams import LocalStreamServer
from tests.integration.worker.support import Cluster, import_streams, worker_settings
from tests.support.orchestrator import eventually

SECRET = "test-instance-secret"


def _registration(instance_id: str, max_streams: int) -> dict[str, object]:
    capabilities = ["audio_fingerprinting"]
    return {"instance_id": instance_id, "max_streams": max_streams, "capabilities": capabilities}


async def test_a_key_cannot_act_for_another_instance(
    tmp_path: Path, stream_server: LocalStreamServer, cluster: Cluster
) -> None:
    database_url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    await import_streams(database_url, stream_server, 4, tmp_path)
    orchestrator = await cluster.orchestrator(
        database_url, orchestrator_instance_secret=SECRET, orchestrator_admin_key="admin"
    )
    victim = cluster.worker(
        worker_settings(
            "victim", orchestrator.url, orchestrator_api_key=instance_key(SECRET, "victim")
        )
    )
    await eventually(lambda: len(victim.running) == 4, what="the victim runs every stream")
    thief = cluster.worker(
        worker_settings(
            "thief", orchestrator.url, orchestrator_api_key=instance_key(SECRET, "thief")
        )
    )
    await eventually(lambda: len(victim.running) == 2 and len(thief.running) == 2, what="2 + 2")
    victim_streams = sorted(victim.running)
    beats_before = victim.runtime.counters.heartbeats_ok

    stolen = {"Authorization": f"Bearer {instance_key(SECRET, 'thief')}"}
    async with httpx.AsyncClient(base_url=orchestrator.url, headers=stolen) as client:
        forged = [
            await client.post(
                "/heartbeat",
                json={"instance_id": "victim", "status": "stopping", "stream_ids": []},
            ),
            await client.post("/register", json=_registration("victim", 1)),
            await client.post("/register", json=_registration("impostor", 1000)),
            await client.get("/instances/victim/assignment", params={"wait": 0}),
            await client.get("/instances/victim"),
            await client.get("/instances"),
            await client.post("/rebalance"),
            await client.delete("/instances/victim"),
        ]
        assert [r.status_code for r in forged] == [403] * len(forged)
        own = await client.get("/instances/thief")
        assert own.status_code == 200

    # Several of the victim's own heartbeats later, nothing has moved.
    await eventually(
        lambda: victim.runtime.counters.heartbeats_ok >= beats_before + 4,
        what="four more heartbeats from the victim",
    )
    assert sorted(victim.running) == victim_streams
    admin = {"Authorization": "Bearer admin"}
    async with httpx.AsyncClient(base_url=orchestrator.url, headers=admin) as client:
        instances = (await client.get("/instances")).json()["instances"]
    by_id = {i["id"]: i for i in instances}
    assert set(by_id) == {"victim", "thief"}  # no impostor was registered
    assert by_id["victim"]["max_streams"] == 50 and by_id["victim"]["current_streams"] == 2
    # Still active (a moment of WARNING on a loaded machine is not what this test is about).
    async with httpx.AsyncClient(base_url=orchestrator.url, headers=admin) as client:

        async def victim_active() -> bool:
            shown = (await client.get("/instances/victim")).json()
            return bool(shown["status"] == "active")

        await eventually(victim_active, what="the victim shown active")
