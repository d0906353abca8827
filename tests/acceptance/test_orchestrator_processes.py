"""`fingerv7 orchestrator` as a real process: several server processes, exactly one monitor."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psycopg
import pytest

from tests.support.instances import seed_streams

pytestmark = pytest.mark.acceptance


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serving(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def lease_holders(dsn: str) -> int:
    """Processes holding a valid leader lease (the fleet row allows at most one by design)."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM fleet_state WHERE leader_id IS NOT NULL "
            "AND lease_expires_at > now()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_max_workers_two_serves_from_both_and_plans_in_one(pg_url: str) -> None:
    seed_streams(pg_url, 8)
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": pg_url.replace("postgresql+psycopg", "postgresql"),
        "MAX_WORKERS": "2",
        "MONITOR_INTERVAL": "0.2",
        "HEARTBEAT_INTERVAL": "1",
        "HEARTBEAT_WARNING_THRESHOLD": "5",
        "HEARTBEAT_TIMEOUT": "10",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "fingerv7", "orchestrator", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    dsn = env["DATABASE_URL"]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (serving(url) and lease_holders(dsn) == 1):
            time.sleep(0.2)
        assert lease_holders(dsn) == 1
        body = {"instance_id": "w1", "max_streams": 10, "capabilities": ["audio_fingerprinting"]}
        with httpx.Client(base_url=url, timeout=5) as client:
            assert client.post("/register", json=body).status_code == 200
            owned: list[int] = []
            while time.monotonic() < deadline and len(owned) != 8:
                answer = client.post(
                    "/heartbeat", json={"instance_id": "w1", "stream_ids": owned}
                ).json()
                owned = [s["id"] for s in answer["streams"]]
            assert sorted(owned) == list(range(1, 9))
        assert lease_holders(dsn) == 1
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    text = output.decode()
    assert text.count("this process is now the leader") == 1, text
    assert "Child process" not in text or "died" not in text, text
