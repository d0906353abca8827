"""Stream health through the protocol: reported in heartbeats, judged, served, stored on change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from fingerv7.orchestrator.health_reports import WorkerHealthIn
from fingerv7.orchestrator.stream_health import StreamHealthBook, instance_facts
from fingerv7.storage.stream_health_store import StreamHealthStore
from tests.support.instances import ScriptedInstance, seed_streams, settle_fleet
from tests.support.orchestrator import eventually

pytestmark = pytest.mark.integration


def stored_updates(database_url: str) -> list[tuple[int, str, str]]:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT stream_id, state, updated_at FROM stream_health ORDER BY stream_id")
        )
        found = [(int(r[0]), r[1], str(r[2])) for r in rows]
    engine.dispose()
    return found


async def test_reported_health_is_served_and_stored_only_on_change(
    database_url, start_orchestrator
):
    seed_streams(database_url, 2)
    orch = await start_orchestrator(database_url=database_url, heartbeat_timeout=30)
    worker = ScriptedInstance(orch.client, "w1", 5)
    await worker.register()
    await settle_fleet(worker, counts=[2])

    # An older worker sends no health: its streams are running, with no more detail (once its
    # report is stored: heartbeats are written in batches, HEARTBEAT_FLUSH_INTERVAL apart).
    async def served_running() -> bool:
        body = (await orch.client.get("/streams/1")).json()
        return bool(body["health"]["state"] == "running")

    await eventually(served_running, what="stream 1 served as running")
    body = (await orch.client.get("/streams/1")).json()
    assert body["id"] == 1 and body["name"] == "Radio 1" and body["instance_id"] == "w1"
    assert body["health"]["state"] == "running"
    assert (await orch.client.get("/streams/status")).json()["health"]["running"] == 2

    down_since = datetime.now(UTC) - timedelta(seconds=42)
    worker.extra = {
        "stream_health": [
            {"stream_id": 1, "state": "running", "since": down_since.isoformat(), "codec": "mp3"},
            {
                "stream_id": 2,
                "state": "reconnecting",
                "since": down_since.isoformat(),
                "last_error": "HTTPStatusError: 503 for http://***@radio/x",
            },
        ]
    }
    await worker.beat()
    body = (await orch.client.get("/streams/2")).json()
    assert body["health"]["state"] == "reconnecting"
    assert body["health"]["reason"] == "HTTPStatusError: 503 for http://***@radio/x"
    assert body["health"]["down_seconds"] >= 42
    assert (await orch.client.get("/streams/1")).json()["health"]["codec"] == "mp3"
    status = (await orch.client.get("/streams/status")).json()
    assert status["health"] == {"running": 1, "connecting": 0, "reconnecting": 1, "unassigned": 0}
    assert [p["id"] for p in status["problem_streams"]] == [2]

    first = stored_updates(database_url)
    assert [(s, state) for s, state, _ in first] == [(1, "running"), (2, "reconnecting")]
    await worker.beat()
    await worker.beat()
    assert stored_updates(database_url) == first  # same episode: nothing written

    # Another orchestrator process (empty memory) sees the same thing through the table.
    fresh = StreamHealthBook(StreamHealthStore(orch.runtime.engine), orch.runtime.settings)
    rows = await orch.runtime.store.instances()
    judged = await fresh.judge_all(instance_facts(rows), await orch.runtime.store.ownership())
    assert [h.state.value for h in judged] == ["running", "reconnecting"]

    # Recovery is a new episode: written once.
    worker.extra["stream_health"][1] = {"stream_id": 2, "state": "running"}
    await worker.beat()
    assert [state for _, state, _ in stored_updates(database_url)] == ["running", "running"]


async def test_a_silent_instance_runs_nothing_in_any_view(database_url, start_orchestrator):
    seed_streams(database_url, 3)
    orch = await start_orchestrator(database_url=database_url, instance_removal_timeout=600)
    worker = ScriptedInstance(orch.client, "w1", 5)
    await worker.register()
    await settle_fleet(worker, counts=[3])

    async def shown_running() -> bool:  # once the batched report is stored
        instance = (await orch.client.get("/instances")).json()["instances"][0]
        return bool(instance["running_streams"] == 3)

    await eventually(shown_running, what="the instance shown running its 3 streams")

    async def silent_everywhere() -> bool:  # the worker stops beating
        instance = (await orch.client.get("/instances")).json()["instances"][0]
        status = (await orch.client.get("/streams/status")).json()
        return (
            instance["status"] == "inactive"
            and instance["running_streams"] == 0
            and (status["streams"]["active"] == 0 and status["health"]["running"] == 0)
        )

    await eventually(silent_everywhere, what="the silent instance shown running nothing")
    health = (await orch.client.get("/health")).json()
    assert health["streams"]["processing"] == 0
    assert health["streams"]["health"]["running"] == 0


async def test_worker_problems_degrade_health_and_bad_reports_are_refused(
    database_url, start_orchestrator
):
    seed_streams(database_url, 1)
    orch = await start_orchestrator(database_url=database_url, heartbeat_timeout=30)
    worker = ScriptedInstance(orch.client, "w1", 5)
    await worker.register()
    await settle_fleet(worker, counts=[1])
    worker.extra = {"worker_health": {"processor": "fingerprint", "problems": ["catalog is empty"]}}
    await worker.beat()
    health = (await orch.client.get("/health")).json()
    assert health["status"] == "degraded" and "worker_problems" in health["degraded"]
    status = (await orch.client.get("/streams/status")).json()
    assert status["instance_problems"] == {
        "w1": {"processor": "fingerprint", "problems": ["catalog is empty"]}
    }

    # Two orchestrator processes: A hears "empty", B hears "fixed", A hears "empty" again. The
    # new `since` makes A write it although A's last write had the same problem list.
    a, b = (
        StreamHealthBook(StreamHealthStore(orch.runtime.engine), orch.runtime.settings)
        for _ in range(2)
    )
    now = datetime.now(UTC)

    def heard(problems: list[str], since_s: int) -> WorkerHealthIn:
        since = now + timedelta(seconds=since_s)
        return WorkerHealthIn(processor="fingerprint", problems=problems, since=since)

    await a.record("w1", None, heard(["catalog is empty"], 1), now)
    await b.record("w1", None, heard([], 2), now)
    assert await a.problems() == {}
    await a.record("w1", None, heard(["catalog is empty"], 3), now)
    assert list(await a.problems()) == ["w1"]

    worker.extra = {"stream_health": [{"stream_id": 1, "state": "exploded"}]}
    response = await orch.client.post(
        "/heartbeat", json={"instance_id": "w1", "stream_ids": [1]} | worker.extra
    )
    assert response.status_code == 422
    assert (await orch.client.get("/streams/999")).status_code == 404


async def test_a_failing_monitor_degrades_health_until_it_recovers(tmp_path, start_orchestrator):
    database = tmp_path / "orchestrator.db"
    database_url = f"sqlite:///{database}"
    seed_streams(database_url, 1)
    orch = await start_orchestrator(database_url=database_url)
    await eventually(lambda: orch.runtime.controller.ticks > 0, what="a first tick")
    engine = create_engine(database_url)
    with engine.begin() as conn:  # the audit table the monitor writes disappears under it
        conn.execute(text("ALTER TABLE stream_changes RENAME TO stream_changes_away"))
    await ScriptedInstance(orch.client, "w1", 5).register()  # a tick now has a move to write

    async def degraded() -> dict | None:
        body = (await orch.client.get("/health")).json()
        return body if "monitor" in body.get("degraded", []) else None

    body = await eventually(degraded, 20, "/health degraded by the failing monitor")
    assert "stream_changes" in body["monitor"]["last_tick_error"]
    prometheus = (await orch.client.get("/metrics/prometheus")).text
    assert "fingerv7_monitor_failing 1.0" in prometheus
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE stream_changes_away RENAME TO stream_changes"))
    engine.dispose()

    async def recovered() -> bool:
        body = (await orch.client.get("/health")).json()
        return body["monitor"]["last_tick_error"] is None

    await eventually(recovered, timeout_s=30, what="the monitor ticking again")
