"""A worker's play-log backlog is first-class at the orchestrator: in its instance views and as a
Prometheus gauge per instance; a worker that sends none (older, or logging no plays) has none."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.instances import ScriptedInstance, seed_streams, settle_fleet
from tests.support.orchestrator import eventually

pytestmark = pytest.mark.integration

BACKLOG = {
    "plays_buffered": 7,
    "oldest_age_seconds": 95.5,
    "last_write_at": "2026-12-02T11:58:00+00:00",
    "unavailable": True,
}


async def test_the_backlog_reaches_the_instance_views_and_prometheus(
    database_url, start_orchestrator
):
    seed_streams(database_url, 2)
    orch = await start_orchestrator(database_url=database_url, heartbeat_timeout=30)
    logging_worker = ScriptedInstance(orch.client, "w1", 5, extra={"play_log": BACKLOG})
    old_worker = ScriptedInstance(orch.client, "w2", 5)
    for worker in (logging_worker, old_worker):
        await worker.register()
    await settle_fleet(logging_worker, old_worker, counts=[1, 1])

    async def shown() -> dict[str, Any] | None:  # once the batched report is stored
        body: dict[str, Any] = (await orch.client.get("/instances/w1")).json()
        return body if body.get("play_log") else None

    detail = await eventually(shown, what="w1's backlog in GET /instances/w1")
    assert detail["play_log"]["plays_buffered"] == 7
    assert detail["play_log"]["oldest_age_seconds"] == 95.5
    assert detail["play_log"]["unavailable"] is True
    assert detail["play_log"]["last_write_at"].startswith("2026-12-02T11:58:00")
    listed = {i["id"]: i for i in (await orch.client.get("/instances")).json()["instances"]}
    assert listed["w1"]["play_log"] == detail["play_log"]
    assert listed["w2"]["play_log"] is None

    exposition = (await orch.client.get("/metrics/prometheus")).text
    assert 'fingerv7_instance_plays_buffered{instance_id="w1"} 7.0' in exposition
    assert 'fingerv7_instance_plays_buffered_oldest_seconds{instance_id="w1"} 95.5' in exposition
    assert 'instance_id="w2"' not in exposition.split("fingerv7_instance_plays_buffered")[-1]

    # Written out: the next beats say so, and so do the views and the gauge.
    logging_worker.extra = {"play_log": {"plays_buffered": 0, "oldest_age_seconds": 0}}

    async def drained() -> bool:
        await logging_worker.beat()
        body = (await orch.client.get("/instances/w1")).json()
        return bool(body["play_log"]["plays_buffered"] == 0)

    await eventually(drained, what="the drained backlog shown")
    exposition = (await orch.client.get("/metrics/prometheus")).text
    assert 'fingerv7_instance_plays_buffered{instance_id="w1"} 0.0' in exposition


async def test_a_malformed_backlog_is_refused(database_url, start_orchestrator):
    seed_streams(database_url, 1)
    orch = await start_orchestrator(database_url=database_url)
    await ScriptedInstance(orch.client, "w1", 5).register()
    response = await orch.client.post(
        "/heartbeat",
        json={"instance_id": "w1", "play_log": {"plays_buffered": -1, "oldest_age_seconds": 0}},
    )
    assert response.status_code == 422
