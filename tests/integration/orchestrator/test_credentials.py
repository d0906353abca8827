"""Per-instance keys over real HTTP: a key acts for its own instance only; shared-key mode is
flagged; the capacity cap and the registration rate bound what one key can claim."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from fingerv7.core.credentials import instance_key
from tests.support.instances import ScriptedInstance, seed_streams, settle_fleet

SECRET = "per-instance-secret"
CAPABILITIES = ["audio_fingerprinting"]


def _client(url: str, key: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(base_url=url, headers=headers, timeout=10)


def _registration(instance_id: str, max_streams: int = 5) -> dict[str, object]:
    return {"instance_id": instance_id, "max_streams": max_streams, "capabilities": CAPABILITIES}


async def test_each_key_acts_for_its_own_instance_only(tmp_path: Path, start_orchestrator):
    database_url = f"sqlite:///{tmp_path / 'o.db'}"
    seed_streams(database_url, 4)
    orch = await start_orchestrator(
        database_url=database_url,
        orchestrator_instance_secret=SECRET,
        orchestrator_api_key="reader-key",
        orchestrator_admin_key="admin-key",
    )
    a_client = _client(orch.url, instance_key(SECRET, "a"))
    b_client = _client(orch.url, instance_key(SECRET, "b"))
    reader = _client(orch.url, "reader-key")
    other_secret = _client(orch.url, instance_key("another-secret", "a"))
    try:
        a = ScriptedInstance(a_client, "a", 4)
        await a.register()
        await settle_fleet(a, counts=[4])
        before = (await orch.client.get("/instances/a")).json()

        # b's key naming a: 403 on every protocol call and read, and nothing changes.
        refused = [
            await b_client.post("/register", json=_registration("a", 1)),
            await b_client.post(
                "/heartbeat", json={"instance_id": "a", "status": "stopping", "stream_ids": []}
            ),
            await b_client.get("/instances/a/assignment", params={"wait": 0}),
            await b_client.get("/instances/a"),
            await b_client.get("/instances"),
            await b_client.get("/metrics"),
        ]
        assert [r.status_code for r in refused] == [403] * 6
        assert "another instance" in refused[0].json()["detail"]
        after = (await orch.client.get("/instances/a")).json()
        assert after["max_streams"] == before["max_streams"] == 4
        assert after["generation"] == before["generation"]
        assert after["streams"] == before["streams"]

        # A key made with another secret, a truncated key, a key for no id: refused.
        assert (await other_secret.post("/register", json=_registration("a"))).status_code == 403
        truncated = _client(orch.url, instance_key(SECRET, "a")[:-2])
        assert (await truncated.post("/register", json=_registration("a"))).status_code == 403
        await truncated.aclose()

        # ORCHESTRATOR_API_KEY only reads once instances have their own keys.
        assert (await reader.get("/instances")).status_code == 200
        shared = await reader.post("/register", json=_registration("a"))
        assert shared.status_code == 403 and "per-instance keys" in shared.json()["detail"]
        # b's own calls work; the admin key may do anything.
        assert (await b_client.post("/register", json=_registration("b"))).status_code == 200
        assert (await b_client.get("/instances/b")).status_code == 200
        assert (await orch.client.post("/register", json=_registration("c"))).status_code == 200

        health = (await reader.get("/health")).json()
        assert health["credentials"] == {"mode": "per_instance"}
    finally:
        for client in (a_client, b_client, reader, other_secret):
            await client.aclose()


async def test_shared_key_mode_still_works_and_says_so(
    tmp_path: Path, start_orchestrator, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="fingerv7.orchestrator")
    orch = await start_orchestrator(
        database_url=f"sqlite:///{tmp_path / 'o.db'}", orchestrator_api_key="shared-key"
    )
    async with _client(orch.url, "shared-key") as shared:
        for name in ("x", "y"):
            assert (await shared.post("/register", json=_registration(name))).status_code == 200
        health = (await shared.get("/health")).json()
    assert health["credentials"]["mode"] == "shared_key"
    assert "any instance can act as any other" in health["credentials"]["warning"]
    assert "shared-key" not in str(health)
    assert any("any instance can act as any other" in r.getMessage() for r in caplog.records)


async def test_capacity_is_capped_and_new_instances_rate_limited(
    tmp_path: Path, start_orchestrator
):
    orch = await start_orchestrator(
        database_url=f"sqlite:///{tmp_path / 'o.db'}",
        max_streams_per_instance=20,
        registration_rate=2,  # a burst of two new ids, then one every 30 s
    )
    client = orch.client
    assert (await client.post("/register", json=_registration("big", 1000))).status_code == 200
    assert (await client.get("/instances/big")).json()["max_streams"] == 20
    assert (await client.post("/register", json=_registration("second"))).status_code == 200
    refused = await client.post("/register", json=_registration("third"))
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 30
    assert (await client.get("/instances/third")).status_code == 404
    # Known instances re-register freely (a worker restarting is not a new instance).
    for _ in range(3):
        assert (await client.post("/register", json=_registration("big", 10))).status_code == 200


async def test_the_default_rate_admits_a_fleet_registering_at_once(pg_url: str, start_orchestrator):
    """300 new ids at once over HTTP, all admitted, and the limit in force still has room for the
    rest of a 2,000-instance fleet (2,000 over HTTP took 68 s here: the arithmetic at 2,000 is
    tests/unit/api/test_registration_rate.py)."""
    orch = await start_orchestrator(database_url=pg_url)  # REGISTRATION_RATE left at its default
    limit = asyncio.Semaphore(32)

    async def register(instance_id: str) -> int:
        async with limit:
            response = await orch.client.post("/register", json=_registration(instance_id))
            return response.status_code

    statuses = await asyncio.gather(*(register(f"fingerv7-worker-{n}") for n in range(300)))

    assert statuses == [200] * 300
    bucket = orch.server.config.app.state.registration_bucket
    assert bucket.rate_per_minute == 3000
    assert 2000 - 300 <= bucket.tokens < 3000  # each new id took a token; the fleet still fits
