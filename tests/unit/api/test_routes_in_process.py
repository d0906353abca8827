"""The fleet's read routes and operator actions, in-process against an in-memory fleet.

No server and no database: `httpx.ASGITransport` calls the app, whose runtime keeps its fleet in
an `InMemoryFleetStore` (it answers as `FleetStore` does: tests/integration/orchestrator/
test_memory_fleet.py). The same routes over real processes and PostgreSQL stay in integration/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from fingerv7.core.planning.model import InstanceState
from fingerv7.orchestrator.health_reports import StreamHealthIn
from fingerv7.orchestrator.settings import OrchestratorSettings
from fingerv7.storage.fleet_rows import FleetRow, Registration
from fingerv7.storage.memory_fleet import InMemoryFleetStore
from fingerv7.storage.report_store import DesiredStream
from tests.support.in_process import InProcessApp, in_process_app

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
ADMIN = {"Authorization": "Bearer admin-key"}
READER = {"Authorization": "Bearer shared-key"}


async def _fleet() -> InMemoryFleetStore:
    """w1 runs streams 1 and 2 (10 slots), w2 is registered with stream 3 on its way (5 slots)."""
    store = InMemoryFleetStore(clock=lambda: NOW)
    for instance_id, max_streams in (("w1", 10), ("w2", 5)):
        await store.register(
            Registration(instance_id, max_streams, ["audio_fingerprinting"], "0.1.0", "sp")
        )
    store.monitor(
        DesiredStream(i, f"http://radio.example/{i}", f"Radio {i}", {}) for i in (1, 2, 3)
    )
    store.assign(1, "w1", "w1")
    store.assign(2, "w1", "w1")
    store.assign(3, "w2", None)
    store.report(
        "w1",
        state=InstanceState.ACTIVE,
        reported_stream_ids=(1, 2),
        stats={"processed_count": 90, "error_count": 10, "cpu_usage": 12.5},
    )
    store.fleet = FleetRow(
        generation=6, rebalances_automatic=2, rebalances_manual=1, source_status="healthy"
    )
    return store


@pytest.fixture
async def orchestrator() -> AsyncIterator[InProcessApp]:
    settings = OrchestratorSettings(
        _env_file=None,  # type: ignore[call-arg]
        orchestrator_admin_key=SecretStr("admin-key"),
        orchestrator_api_key=SecretStr("shared-key"),
    )
    store = await _fleet()
    async with in_process_app(settings, store, reports=store) as app:
        yield app


async def test_instances_lists_each_instance_with_what_it_owns(orchestrator: InProcessApp) -> None:
    response = await orchestrator.client.get("/instances", headers=READER)

    assert response.status_code == 200
    body = response.json()
    w1, w2 = body["instances"]
    assert (w1["id"], w1["status"], w1["current_streams"], w1["running_streams"]) == (
        "w1",
        "active",
        2,
        2,
    )
    assert (w1["load_percentage"], w1["processed_total"], w1["cpu_usage"]) == (20.0, 90, 12.5)
    assert w1["registered_at"] == NOW.isoformat().replace("+00:00", "Z")
    assert (w2["id"], w2["status"], w2["current_streams"]) == ("w2", "registered", 0)
    assert body["summary"]["total_instances"] == 2
    assert body["summary"]["total_assigned"] == 2


async def test_metrics_add_up_the_workers_counters_and_the_fleet_row(
    orchestrator: InProcessApp,
) -> None:
    body = (await orchestrator.client.get("/metrics", headers=READER)).json()

    assert body["stream_metrics"] == {
        "total_streams_processed": 90,
        "total_errors": 10,
        "success_rate": 0.9,
    }
    assert body["rebalancing_metrics"] == {
        "total_rebalances": 3,
        "automatic_rebalances": 2,
        "manual_rebalances": 1,
        "generation": 6,
    }


async def test_reads_need_a_key_and_operator_actions_the_admin_key(
    orchestrator: InProcessApp,
) -> None:
    client = orchestrator.client
    assert (await client.get("/instances")).status_code == 401
    assert (
        await client.get("/instances", headers={"Authorization": "Bearer x"})
    ).status_code == 403
    assert (await client.post("/instances/w2/drain", headers=READER)).status_code == 403
    w2 = await orchestrator.store.instance("w2")
    assert w2 is not None and not w2.draining  # the refused drain changed nothing


async def test_an_operator_drains_undrains_and_removes_an_instance(
    orchestrator: InProcessApp,
) -> None:
    client, store = orchestrator.client, orchestrator.store

    drained = await client.post("/instances/w2/drain", headers=ADMIN)
    assert drained.json() == {"status": "draining", "detail": "w2 is draining"}
    listed = (await client.get("/instances", headers=READER)).json()["instances"]
    assert [i["draining"] for i in listed] == [False, True]
    assert (await client.delete("/instances/w2/drain", headers=ADMIN)).json()["status"] == "active"

    removed = await client.delete("/instances/w2", headers=ADMIN)
    assert removed.json() == {"status": "removed", "detail": "w2 deregistered"}
    assert await store.instance("w2") is None
    listed = (await client.get("/instances", headers=READER)).json()["instances"]
    assert [i["id"] for i in listed] == ["w1"]
    assert (await client.delete("/instances/w2", headers=ADMIN)).status_code == 404
    assert (await client.post("/instances/nobody/drain", headers=ADMIN)).status_code == 404


async def test_a_manual_rebalance_is_recorded_for_the_next_tick(orchestrator: InProcessApp) -> None:
    response = await orchestrator.client.post("/rebalance", headers=ADMIN)

    assert response.json()["status"] == "accepted"
    assert orchestrator.store.rebalance_requested_at is not None


async def test_one_stream_is_served_with_its_instance_and_health(
    orchestrator: InProcessApp,
) -> None:
    client = orchestrator.client

    running = (await client.get("/streams/1", headers=READER)).json()
    on_its_way = (await client.get("/streams/3", headers=READER)).json()
    missing = await client.get("/streams/99", headers=READER)

    assert (running["name"], running["instance_id"], running["health"]["state"]) == (
        "Radio 1",
        "w1",
        "running",
    )
    assert (on_its_way["instance_id"], on_its_way["health"]["state"]) == ("w2", "connecting")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "stream 99 is not monitored"}
    assert (await client.get("/streams/1")).status_code == 401


async def test_streams_status_counts_owners_handoffs_and_problems(
    orchestrator: InProcessApp,
) -> None:
    await orchestrator.runtime.stream_health.record(
        "w1",
        [StreamHealthIn(stream_id=2, state="reconnecting", since=NOW, last_error="timed out")],
        None,
        NOW,
    )

    body = (await orchestrator.client.get("/streams/status", headers=READER)).json()

    assert body["streams"] == {
        "total": 3,
        "active": 2,
        "inactive": 1,
        "assigned": 2,
        "in_handoff": 1,
        "unassigned": 0,
    }
    assert [(d["instance_id"], d["stream_ids"]) for d in body["distribution"]] == [
        ("w1", [1, 2]),
        ("w2", []),
    ]
    assert body["health"] == {"running": 1, "connecting": 1, "reconnecting": 1, "unassigned": 0}
    problems = {p["id"]: (p["name"], p["state"]) for p in body["problem_streams"]}
    assert problems == {2: ("Radio 2", "reconnecting"), 3: ("Radio 3", "connecting")}


async def test_health_reports_the_fleet_and_what_degrades_it(orchestrator: InProcessApp) -> None:
    healthy = await orchestrator.client.get("/health")  # public: no key
    orchestrator.store.monitor([DesiredStream(4, "http://radio.example/4", "Radio 4", {})])
    orchestrator.runtime.health_cache = (0.0, None)  # the dependency checks, not their cache
    degraded = (await orchestrator.client.get("/health")).json()

    assert healthy.status_code == 200
    body = healthy.json()
    assert body["status"] == "healthy" and body["leader"] is False
    assert body["services"]["postgresql_internal"]["status"] == "healthy"
    assert body["instances"] == {
        "registered": 1,
        "active": 1,
        "warning": 0,
        "inactive": 0,
        "recovering": 0,
        "draining": 0,
        "total": 2,
    }
    assert body["streams"]["processing"] == 2
    assert body["credentials"]["mode"] == "shared_key"
    assert degraded["status"] == "degraded"
    assert degraded["degraded"] == ["unassigned_streams"]  # stream 4 has no instance


async def test_one_instance_is_served_with_the_streams_it_owns(orchestrator: InProcessApp) -> None:
    client = orchestrator.client

    w1 = (await client.get("/instances/w1", headers=READER)).json()
    w2 = (await client.get("/instances/w2", headers=READER)).json()
    nobody = await client.get("/instances/nobody", headers=READER)

    assert (w1["status"], w1["current_streams"], w1["load_percentage"]) == ("active", 2, 20.0)
    assert [(s["id"], s["name"]) for s in w1["streams"]] == [(1, "Radio 1"), (2, "Radio 2")]
    assert (w2["status"], w2["streams"]) == ("registered", [])  # stream 3 is still on its way
    assert nobody.status_code == 404
    assert nobody.json()["detail"].startswith("instance 'nobody' is not registered")
