"""The protocol's fast path answers exactly what FastAPI's routes answer.

One real orchestrator (its runtime, its database); the same requests sent to it over HTTP (the
fast path) and to a second app on the same runtime with the fast path taken out (FastAPI's
routing, dependencies and handlers). Every status code and body must match.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from fingerv7.api.app import create_app
from fingerv7.api.fast_path import ProtocolFastPath
from fingerv7.core.credentials import instance_key
from tests.support.instances import ScriptedInstance, seed_streams, settle_fleet

SECRET = "per-instance-secret"
CAPABILITIES = ["audio_fingerprinting"]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _comparable(response: httpx.Response) -> tuple[int, object]:
    body = response.json()
    if isinstance(body, dict):
        body.pop("next_heartbeat", None)  # the clock moves between the two calls
    return response.status_code, body


async def test_the_fast_path_and_the_route_answer_alike(tmp_path: Path, start_orchestrator):
    database_url = f"sqlite:///{tmp_path / 'o.db'}"
    seed_streams(database_url, 6)
    orch = await start_orchestrator(
        database_url=database_url,
        orchestrator_instance_secret=SECRET,
        orchestrator_api_key="reader-key",
    )
    own = _bearer(instance_key(SECRET, "a"))
    async with httpx.AsyncClient(base_url=orch.url, headers=own, timeout=10) as a_client:
        a = ScriptedInstance(a_client, "a", 6)
        await a.register()
        await settle_fleet(a, counts=[6])
    steady = {"instance_id": "a", "stream_ids": sorted(a.running), "generation": a.generation}

    route_app = create_app(orch.runtime.settings, orch.runtime)
    route_app.user_middleware = [m for m in route_app.user_middleware if m.cls != ProtocolFastPath]
    route_app.state.runtime = orch.runtime
    json_type = {"Content-Type": "application/json"}
    cases: list[tuple[str, dict[str, str], bytes]] = [
        ("steady beat", own, json.dumps(steady).encode()),
        ("no key", {}, json.dumps(steady).encode()),
        ("not a bearer key", {"Authorization": "Basic abc"}, json.dumps(steady).encode()),
        ("unknown key", _bearer("nope"), json.dumps(steady).encode()),
        ("reader key", _bearer("reader-key"), json.dumps(steady).encode()),
        ("another's key", _bearer(instance_key(SECRET, "b")), json.dumps(steady).encode()),
        ("unregistered", _bearer(instance_key(SECRET, "zz")), b'{"instance_id": "zz"}'),
        ("bad values", own, b'{"instance_id": "a", "generation": "7", "cpu_usage": -1}'),
        (
            "stopping with streams",
            own,
            b'{"instance_id": "a", "status": "stopping", "stream_ids": [1]}',
        ),
        ("not an object", own, b"[1, 2]"),
        ("empty body", own, b""),
        ("malformed JSON", own, b'{"instance_id": "a",'),
        ("not UTF-8", own, b'{"\xf2\x80": 1}'),
    ]
    async with (
        httpx.AsyncClient(base_url=orch.url, timeout=10) as fast,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=route_app), base_url="http://route"
        ) as route,
    ):
        for name, headers, content in cases:
            by_fast = await fast.post("/heartbeat", content=content, headers=headers | json_type)
            by_route = await route.post("/heartbeat", content=content, headers=headers | json_type)
            assert _comparable(by_fast) == _comparable(by_route), name
            assert by_fast.headers.get("www-authenticate") == by_route.headers.get(
                "www-authenticate"
            ), name
        # The long-poll: served by the fast path when plain and allowed, else by the route.
        current = f"/instances/a/assignment?after_generation={a.generation}&wait=0"
        polls: list[tuple[str, dict[str, str], str]] = [
            ("at once (older generation)", own, "/instances/a/assignment?after_generation=0"),
            ("waits 0.2 s, then the same set", own, current.replace("wait=0", "wait=0.2")),
            ("default wait, newer than asked", own, "/instances/a/assignment"),
            ("wait too long", own, current.replace("wait=0", "wait=61")),
            ("negative generation", own, "/instances/a/assignment?after_generation=-1&wait=0"),
            ("not a number", own, "/instances/a/assignment?after_generation=x&wait=0"),
            ("huge generation", own, f"/instances/a/assignment?after_generation={2**63}"),
            ("no key", {}, current),
            ("reader key", _bearer("reader-key"), current),
            ("another's key", _bearer(instance_key(SECRET, "b")), current),
            ("unregistered", _bearer(instance_key(SECRET, "zz")), current.replace("/a/", "/zz/")),
            ("bad id", own, "/instances/a%20b/assignment?wait=0"),
        ]
        for name, headers, path in polls:
            by_fast = await fast.get(path, headers=headers)
            by_route = await route.get(path, headers=headers)
            assert _comparable(by_fast) == _comparable(by_route), name
        # Last, a report that changes something (the leader may act on it after the pair).
        change = json.dumps(steady | {"stream_ids": [*sorted(a.running), 99]}).encode()
        by_fast = await fast.post("/heartbeat", content=change, headers=own | json_type)
        by_route = await route.post("/heartbeat", content=change, headers=own | json_type)
        assert _comparable(by_fast) == _comparable(by_route)
        assert by_fast.json()["commands"] == [
            {"type": "stream_update", "stream_id": 99, "action": "remove"}
        ]
    # Labelled by their routes in the request metrics, as the router would have labelled them.
    exposition = (await orch.client.get("/metrics/prometheus")).text
    assert (
        'fingerv7_http_requests_total{method="POST",route="/heartbeat",status="200"}' in exposition
    )
    assert 'route="/instances/{instance_id}/assignment",status="200"' in exposition
    assert 'method="POST",route="unmatched"' not in exposition
