"""Restarts, source changes, external sources, auth and leadership, over real HTTP."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import create_engine, text

from tests.support.instances import (
    ScriptedInstance,
    register_instances,
    seed_streams,
    set_stream_active,
    settle_fleet,
)
from tests.support.orchestrator import eventually

pytestmark = pytest.mark.integration


async def test_restart_moves_no_stream_even_after_a_long_outage(database_url, start_orchestrator):
    seed_streams(database_url, 12)
    first = await start_orchestrator(database_url=database_url)
    a, b = await register_instances(first.client, {"a": 10, "b": 10})
    await settle_fleet(a, b, counts=[6, 6])
    before = {"a": set(a.running), "b": set(b.running)}
    generation = (await first.client.get("/metrics")).json()["rebalancing_metrics"]["generation"]
    changes_before = len((await first.client.get("/streams/status")).json()["recent_changes"])
    await first.stop()

    # The orchestrator stays down longer than HEARTBEAT_TIMEOUT (instances can't beat meanwhile).
    outage_end = time.monotonic() + first.runtime.settings.heartbeat_timeout + 0.5
    while time.monotonic() < outage_end:
        await asyncio.sleep(0.1)

    second = await start_orchestrator(database_url=database_url)
    a.client = b.client = second.client
    await _ticks(second, 5)
    for instance in (a, b):
        await instance.beat()
    assert {"a": a.desired, "b": b.desired} == before
    status = (await second.client.get("/streams/status")).json()
    assert len(status["recent_changes"]) == changes_before
    after = (await second.client.get("/metrics")).json()["rebalancing_metrics"]["generation"]
    assert after == generation
    states = {
        i["id"]: i["status"] for i in (await second.client.get("/instances")).json()["instances"]
    }
    assert states == {"a": "active", "b": "active"}


async def _ticks(orch, count: int) -> None:
    target = orch.runtime.controller.ticks + count
    while orch.runtime.controller.ticks < target:
        orch.runtime.controller.wake()
        await asyncio.sleep(0.02)


async def test_streams_added_and_deactivated_in_the_source_are_followed(
    database_url, start_orchestrator
):
    seed_streams(database_url, 3)
    orch = await start_orchestrator(database_url=database_url)
    a = ScriptedInstance(orch.client, "a", 10)
    await a.register()
    await settle_fleet(a, counts=[3])

    await asyncio.to_thread(seed_streams, database_url, 2, start=10)
    await settle_fleet(a, counts=[5])
    await asyncio.to_thread(set_stream_active, database_url, 2, False)
    await settle_fleet(a, counts=[4])
    assert 2 not in a.running
    changes = (await orch.client.get("/streams/status")).json()["recent_changes"]
    assert any(c["reason"] == "stream_removed" and c["stream_ids"] == [2] for c in changes)


async def test_external_source_of_the_original_shape(
    make_pg_database, tmp_path, start_orchestrator
):
    source_url = make_pg_database()
    engine = create_engine(source_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE streams (url text, name text, sheet text, cidade text, "
                'estado text, regiao text, segmento text, "index" text)'
            )
        )
        conn.execute(
            text(
                "INSERT INTO streams VALUES (:url, :name, 'sheet1', 'Recife', 'PE', "
                "'Nordeste', 'pop', :index)"
            ),
            [
                {"url": f"http://127.0.0.1:9/r{i}", "name": f"R{i}", "index": str(i)}
                for i in range(5)
            ],
        )
    engine.dispose()
    database = source_url.rsplit("/", 1)[1]
    orch = await start_orchestrator(
        database_url=f"sqlite:///{tmp_path / 'o.db'}",
        postgres_host="127.0.0.1",
        postgres_port=5432,
        postgres_db=database,
        postgres_user="postgres",
        db_table_name="streams",
    )
    a = ScriptedInstance(orch.client, "a", 10)
    await a.register()
    await settle_fleet(a, counts=[5])
    answer = await a.beat()
    assert {s["id"] for s in answer["streams"]} == {0, 1, 2, 3, 4}
    meta = answer["streams"][0]["metadata"]
    assert meta["cidade"] == "Recife" and meta["regiao"] == "Nordeste"
    health = (await orch.client.get("/health")).json()
    assert health["services"]["postgresql_external"]["status"] == "healthy"


async def test_unreachable_source_keeps_assignments_and_reports_degraded(
    make_pg_database, tmp_path, start_orchestrator
):
    source_url = make_pg_database()
    engine = create_engine(source_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE feeds (id int primary key, url text, name text)"))
        conn.execute(
            text(
                "INSERT INTO feeds VALUES "
                "(1, 'http://127.0.0.1:9/a', 'A'), (2, 'http://127.0.0.1:9/b', 'B')"
            )
        )
    database = source_url.rsplit("/", 1)[1]
    orch = await start_orchestrator(
        database_url=f"sqlite:///{tmp_path / 'o.db'}",
        postgres_host="127.0.0.1",
        postgres_db=database,
        db_table_name="feeds",
    )
    a = ScriptedInstance(orch.client, "a", 10)
    await a.register()
    await settle_fleet(a, counts=[2])

    def rename(old: str, new: str) -> None:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))

    # The source goes away (table renamed: every read fails). From a thread: the orchestrator
    # shares this event loop and must keep running while the ALTER waits for its lock.
    await asyncio.to_thread(rename, "feeds", "feeds_gone")

    async def degraded() -> bool:
        await a.beat()  # a stays alive meanwhile
        body = (await orch.client.get("/health")).json()
        row = await orch.runtime.store.fleet_row()
        return body["status"] == "degraded" and row.source_status == "unhealthy"

    await eventually(degraded, what="health degraded while the source is unreadable")
    await a.beat()
    assert a.desired == {1, 2}  # nothing was unassigned because the source could not be read

    await asyncio.to_thread(rename, "feeds_gone", "feeds")
    engine.dispose()

    async def recovered() -> bool:
        await a.beat()
        row = await orch.runtime.store.fleet_row()
        return row.source_status == "healthy"

    await eventually(recovered, what="source healthy again")


async def test_keys_guard_instance_and_operator_calls(tmp_path, start_orchestrator):
    orch = await start_orchestrator(
        database_url=f"sqlite:///{tmp_path / 'o.db'}",
        orchestrator_api_key="instance-key-123",
        orchestrator_admin_key="admin-key-456",
    )
    body = {"instance_id": "w", "max_streams": 2, "capabilities": ["audio_fingerprinting"]}
    anonymous = orch.client.__class__(base_url=orch.url)
    instance = orch.client.__class__(
        base_url=orch.url, headers={"Authorization": "Bearer instance-key-123"}
    )
    try:
        assert (await anonymous.post("/register", json=body)).status_code == 401
        wrong = await anonymous.post(
            "/register", json=body, headers={"Authorization": "Bearer nope"}
        )
        assert wrong.status_code == 403
        assert (await instance.post("/register", json=body)).status_code == 200
        assert (await instance.get("/instances")).status_code == 200
        refused = await instance.post("/rebalance")
        assert refused.status_code == 403
        assert "ORCHESTRATOR_ADMIN_KEY" in refused.json()["detail"]
        assert (await orch.client.post("/rebalance")).status_code == 200  # admin key
        health = await anonymous.get("/health")
        assert health.status_code == 200
        for secret in ("instance-key-123", "admin-key-456", "127.0.0.1", str(tmp_path)):
            assert secret not in health.text
    finally:
        await anonymous.aclose()
        await instance.aclose()


async def test_health_never_shows_database_credentials(make_pg_database, start_orchestrator):
    url = make_pg_database()
    database = url.rsplit("/", 1)[1]
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP ROLE IF EXISTS fv7_secret_user"))
        conn.execute(text("CREATE ROLE fv7_secret_user LOGIN PASSWORD 's3cr3t-pa55'"))
        conn.execute(text(f'GRANT ALL ON DATABASE "{database}" TO fv7_secret_user'))
        conn.execute(text("GRANT ALL ON SCHEMA public TO fv7_secret_user"))
    try:
        orch = await start_orchestrator(
            database_url=url.replace("postgres@", "fv7_secret_user:s3cr3t-pa55@")
        )
        text_body = (await orch.client.get("/health")).text
        assert "s3cr3t-pa55" not in text_body and "fv7_secret_user" not in text_body
        await orch.stop()
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'REVOKE ALL ON DATABASE "{database}" FROM fv7_secret_user'))
            conn.execute(text("DROP OWNED BY fv7_secret_user"))
            conn.execute(text("DROP ROLE fv7_secret_user"))
        engine.dispose()


async def test_only_one_of_two_orchestrators_on_one_database_leads(
    make_pg_database, start_orchestrator
):
    url = make_pg_database()
    seed_streams(url, 6)
    first = await start_orchestrator(database_url=url)
    second = await start_orchestrator(database_url=url)
    await _rounds(first, 3)
    await _rounds(second, 3)
    leaders = [o for o in (first, second) if o.runtime.controller.is_leader]
    assert len(leaders) == 1
    follower = second if leaders[0] is first else first

    a = ScriptedInstance(follower.client, "a", 10)
    await a.register()
    await settle_fleet(a, counts=[6])  # served by the follower, planned by the leader

    await leaders[0].stop()
    await eventually(lambda: _is_leader(follower), what="the follower takes over leadership")
    b = ScriptedInstance(follower.client, "b", 10)
    await b.register()
    await settle_fleet(a, b, counts=[3, 3])


async def _rounds(orch, count: int) -> None:
    """Let the controller loop go round `count` times (leader or not)."""
    target = orch.runtime.controller.rounds + count
    while orch.runtime.controller.rounds < target:
        orch.runtime.controller.wake()
        await asyncio.sleep(0.02)


async def _is_leader(orch) -> bool:
    orch.runtime.controller.wake()
    await asyncio.sleep(0.05)
    return orch.runtime.controller.is_leader
