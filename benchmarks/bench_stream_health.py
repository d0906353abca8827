"""What stream health costs a heartbeat: a `fingerv7 orchestrator` process on PostgreSQL (or
SQLite), driven over HTTP from this process by one instance running N streams.

Three kinds of heartbeat, measured in the same run: without `stream_health` (the baseline, an
old worker), with every stream's health (a full report, 1 beat in 10), and with the delta a
steady worker sends (no entry). Reports latency percentiles and the ratio to the baseline.

    .venv/bin/python benchmarks/bench_stream_health.py [--streams 1000] [--beats 200] [--sqlite]

Not a test: figures go in the issue's notes with the command and the machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.instances import seed_streams
from tests.support.orchestrator import free_port

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
FINGERV7 = str(Path(sys.executable).parent / "fingerv7")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the orchestrator exited during startup")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the orchestrator did not answer within 60 s")


def health_entries(stream_ids: list[int]) -> list[dict[str, Any]]:
    now = datetime.now(UTC).isoformat()
    return [
        {
            "stream_id": s,
            "state": "running",
            "since": now,
            "codec": "mp3",
            "bitrate_kbps": 128,
            "last_audio_at": now,
            "last_identified_at": now,
            "last_song": "Artist - Title",
            "identifications": 3,
        }
        for s in stream_ids
    ]


def measure(
    client: httpx.Client, kinds: dict[str, dict[str, Any]], beats: int
) -> dict[str, list[float]]:
    """Interleaved (one beat of each kind in turn), so a busy moment hits every kind alike."""
    latencies: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(beats):
        for name, body in kinds.items():
            started = time.perf_counter()
            client.post("/heartbeat", json=body).raise_for_status()
            latencies[name].append(time.perf_counter() - started)
    return latencies


def run(streams: int, beats: int, database_url: str) -> None:
    seed_streams(database_url, streams)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = os.environ | {
        "DATABASE_URL": database_url,
        "HEARTBEAT_INTERVAL": "30",
        "HEARTBEAT_WARNING_THRESHOLD": "60",
        "HEARTBEAT_TIMEOUT": "120",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [FINGERV7, "orchestrator", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    try:
        wait_for(url, server)
        with httpx.Client(base_url=url, timeout=30) as client:
            client.post(
                "/register",
                json={
                    "instance_id": "bench-1",
                    "max_streams": streams,
                    "capabilities": ["audio_fingerprinting"],
                },
            ).raise_for_status()
            body: dict[str, Any] = {"instance_id": "bench-1", "stream_ids": [], "generation": 0}
            deadline = time.monotonic() + 60
            while len(body["stream_ids"]) < streams and time.monotonic() < deadline:
                answer = client.post("/heartbeat", json=body).json()
                body["stream_ids"] = sorted(s["id"] for s in answer["streams"])
                body["generation"] = answer["generation"]
            running = body["stream_ids"]
            kinds = {
                "baseline (no stream_health)": dict(body),
                "full report (every stream)": body | {"stream_health": health_entries(running)},
                "steady delta (no entry)": body | {"stream_health": []},
            }
            measure(client, kinds, 3)  # warm-up; the first full report writes every episode
            results = measure(client, kinds, beats)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    baseline = percentile(results["baseline (no stream_health)"], 0.5)
    backend = database_url.split(":")[0]
    print(f"{streams} streams on one instance, {beats} heartbeats per kind, {backend}")
    for name, latencies in results.items():
        p50, p95, p99 = (percentile(latencies, f) * 1000 for f in (0.5, 0.95, 0.99))
        ratio = percentile(latencies, 0.5) / baseline
        print(f"  {name:30} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  x{ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--beats", type=int, default=200)
    parser.add_argument("--sqlite", action="store_true", help="use SQLite instead of PostgreSQL")
    args = parser.parse_args()
    if args.sqlite:
        with tempfile.TemporaryDirectory() as folder:
            run(args.streams, args.beats, f"sqlite:///{folder}/bench.db")
        return
    name = f"fv7_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        run(args.streams, args.beats, f"postgresql://postgres@127.0.0.1:5432/{name}")
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
