"""Hostile and careless clients get a 4xx, never a 5xx, and cannot inflate what others read.

Over real HTTP against a real orchestrator, on SQLite and on PostgreSQL (which refuses NUL bytes
and integers past 2**63 in its own way).
"""

from __future__ import annotations

import asyncio
import json

import httpx

from tests.support.instances import register_instances, seed_streams, settle_fleet
from tests.support.orchestrator import eventually

CAPABILITIES = ["audio_fingerprinting"]
BIG = 2**63


def _registration(**changes: object) -> dict[str, object]:
    return {"instance_id": "w1", "max_streams": 5, "capabilities": CAPABILITIES} | changes


async def test_out_of_range_and_malformed_values_are_422(database_url, start_orchestrator):
    orch = await start_orchestrator(database_url=database_url)
    client = orch.client
    assert (await client.post("/register", json=_registration())).status_code == 200
    bad_calls = [
        ("/register", _registration(version="1.0\x00")),
        ("/register", _registration(location="Recife\x00")),
        ("/register", _registration(location="line\nforged log line")),
        ("/register", _registration(max_streams="5")),
        ("/register", _registration(max_streams=True)),
        ("/register", _registration(max_streams=5.0)),
        ("/register", _registration(capabilities=["something_else"])),
        ("/register", _registration(instance_id="w\x001")),
        ("/heartbeat", {"instance_id": "w1", "generation": BIG}),
        ("/heartbeat", {"instance_id": "w1", "stream_ids": [BIG]}),
        ("/heartbeat", {"instance_id": "w1", "processed_count": 10**100}),
        ("/heartbeat", {"instance_id": "w1", "generation": "7"}),
    ]
    for path, body in bad_calls:
        response = await client.post(path, json=body)
        assert response.status_code == 422, (body, response.text)
        problem = response.json()
        assert problem["detail"].startswith("invalid request") and problem["errors"]
    for path in (
        "/instances/w%001",
        "/instances/w%001/assignment?wait=0",
        "/instances/" + "x" * 65,
    ):
        assert (await client.get(path)).status_code == 422, path
    too_late = await client.get("/instances/w1/assignment", params={"after_generation": BIG})
    assert too_late.status_code == 422
    health = await client.get("/health")
    assert health.status_code == 200 and health.json()["status"] != "unhealthy"


async def test_huge_headers_are_refused_with_431_before_being_read(tmp_path, start_orchestrator):
    orch = await start_orchestrator(database_url=f"sqlite:///{tmp_path / 'o.db'}")
    host, port = orch.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Junk: ")
    answer_task = asyncio.create_task(reader.read(4096))
    chunk = b"a" * 65_536
    sent = 0
    for _ in range(512):  # up to 32 MB, as the attack did; the server answers far earlier
        if answer_task.done():
            break
        writer.write(chunk)
        await writer.drain()
        sent += len(chunk)
    answer = await answer_task
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert sent < 32 * 2**20
    # Ordinary requests (and ordinary headers of a few kB) still work.
    response = await orch.client.get("/health", headers={"X-Fine": "b" * 4000})
    assert response.status_code == 200


async def test_streamed_bodies_over_one_mebibyte_are_413(tmp_path, start_orchestrator):
    orch = await start_orchestrator(database_url=f"sqlite:///{tmp_path / 'o.db'}")

    async def chunks():
        yield b'{"instance_id": "w1", "padding": "'
        for _ in range(20):
            yield b"x" * 65_536
        yield b'"}'

    streamed = await orch.client.post(
        "/register", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert "too large" in streamed.json()["detail"]
    declared = await orch.client.post(
        "/register", content=b"x" * (2**20 + 1), headers={"Content-Type": "application/json"}
    )
    assert declared.status_code == 413


async def test_openapi_documents_what_the_server_answers(tmp_path, start_orchestrator):
    orch = await start_orchestrator(
        database_url=f"sqlite:///{tmp_path / 'o.db'}", orchestrator_api_key="k"
    )
    schema = (await orch.client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    heartbeat = schema["paths"]["/heartbeat"]["post"]
    assert heartbeat["security"] == [{"bearer": []}]
    assert {"401", "403", "413", "422", "431", "503"} <= set(heartbeat["responses"])
    problem = schema["components"]["schemas"]["ValidationErrorResponse"]
    assert set(problem["required"]) == {"detail", "errors"}
    register = schema["components"]["schemas"]["RegisterRequest"]["properties"]
    assert register["max_streams"]["type"] == "integer"
    assert register["capabilities"]["contains"] == {"const": "audio_fingerprinting"}
    assert "429" in schema["paths"]["/register"]["post"]["responses"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            # A route that forgets its auth dependency is public: only /health may be.
            assert ("security" in operation) == (path != "/health"), f"{method} {path}"
            ok = operation["responses"]["200"]["content"]
            assert ok != {"application/json": {"schema": {}}}, f"{method} {path} has no model"
    # What the document says of a 422 is what a 422 looks like.
    anonymous = await httpx.AsyncClient(base_url=orch.url).__aenter__()
    try:
        assert (await anonymous.get("/instances")).status_code == 401
        assert (await anonymous.get("/health")).status_code == 200
    finally:
        await anonymous.aclose()
    bad = await orch.client.post("/register", content=json.dumps({"instance_id": 5}))
    assert bad.status_code == 422 and {"detail", "errors"} <= set(bad.json())


async def test_series_of_gone_instances_leave_the_exposition(tmp_path, start_orchestrator):
    orch = await start_orchestrator(database_url=f"sqlite:///{tmp_path / 'o.db'}")
    junk = await register_instances(orch.client, {f"junk-{n}": 1 for n in range(5)})

    async def exposition() -> str:
        for instance in junk:
            await instance.beat()
        return (await orch.client.get("/metrics/prometheus")).text

    async def all_labelled() -> bool:
        text = await exposition()
        return all(f'instance_id="{i.instance_id}"' in text for i in junk)

    await eventually(all_labelled, what="a state-change series per junk instance")
    for instance in junk:
        assert (await orch.client.delete(f"/instances/{instance.instance_id}")).status_code == 200

    async def none_labelled() -> bool:
        text = (await orch.client.get("/metrics/prometheus")).text
        return "junk-" not in text

    await eventually(none_labelled, what="the junk instances' series dropped")
    for path in ("/no/such/path", "/instances/junk-0/nothing", "/%00"):
        assert (await orch.client.get(path)).status_code in (404, 422)
    text = (await orch.client.get("/metrics/prometheus")).text
    assert "/no/such" not in text and 'route="unmatched"' in text
    assert 'route="/instances/{instance_id}"' in text


async def test_one_heartbeat_cannot_report_more_than_any_instance_may_hold(
    tmp_path, start_orchestrator
):
    orch = await start_orchestrator(database_url=f"sqlite:///{tmp_path / 'o.db'}")
    await register_instances(orch.client, {"w1": 5})
    flood = {"instance_id": "w1", "stream_ids": list(range(10_000))}
    assert (await orch.client.post("/heartbeat", json=flood)).status_code == 422
    metrics = (await orch.client.get("/metrics")).json()
    assert metrics["instance_metrics"]["discrepancies"] == 0


async def test_repeating_foreign_streams_counts_each_once_per_episode(
    database_url, start_orchestrator
):
    seed_streams(database_url, 4)
    orch = await start_orchestrator(database_url=database_url)
    a, b = await register_instances(orch.client, {"a": 2, "b": 2})
    await settle_fleet(a, b, counts=[2, 2])

    async def counted() -> tuple[int, str]:
        json_total = (await orch.client.get("/metrics")).json()["instance_metrics"]
        prom = (await orch.client.get("/metrics/prometheus")).text
        line = next(x for x in prom.splitlines() if x.startswith("fingerv7_discrepancies_total"))
        return json_total["discrepancies"], line

    stray = min(b.running)
    a.running.add(stray)
    for _ in range(5):
        answer = await a.beat()
        assert {"type": "stream_update", "stream_id": stray, "action": "remove"} in (
            answer["commands"]
        )
    assert await counted() == (1, "fingerv7_discrepancies_total 1.0")

    a.running.discard(stray)  # the episode ends when a no longer reports it...
    await a.beat()
    a.running.add(stray)  # ...and reporting it again is a new one
    await a.beat()
    await a.beat()
    assert await counted() == (2, "fingerv7_discrepancies_total 2.0")

    # A removed instance's open episode is forgotten (by the monitor's next tick).
    assert orch.runtime.discrepancies.episodes.has_open("a")
    assert (await orch.client.delete("/instances/a")).status_code == 200
    await eventually(
        lambda: not orch.runtime.discrepancies.episodes.has_open("a"),
        what="a's episode forgotten after its removal",
    )
