"""How the orchestrator copes with a large fleet, end to end over real HTTP and PostgreSQL.

Starts an orchestrator (uvicorn, in this process) on a fresh PostgreSQL database (or SQLite with
--sqlite), seeds N streams, registers M instances that follow their assignments, and reports:
time until every stream runs, heartbeat latency percentiles at steady state, monitor tick time,
and the time from one instance's death to its streams being granted elsewhere.

    .venv/bin/python benchmarks/bench_orchestrator.py [--streams 10000] [--instances 200]

Not a test: figures go in docs/orchestrator.md with the command that produced them.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.instances import ScriptedInstance, seed_streams
from tests.support.orchestrator import free_port

from fingerv7.api.app import create_app
from fingerv7.orchestrator.settings import OrchestratorSettings

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def timed_beat(instance: ScriptedInstance, latencies: list[float]) -> None:
    started = time.perf_counter()
    await instance.follow()
    latencies.append((time.perf_counter() - started) / 2)  # follow() is two heartbeats


async def run(streams: int, instances: int, database_url: str, timeout_s: float) -> None:
    seed_streams(database_url, streams)
    settings = OrchestratorSettings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        heartbeat_interval=5,
        heartbeat_warning_threshold=timeout_s / 2,
        heartbeat_timeout=timeout_s,
        monitor_interval=0.2,
        rebalance_cooldown=0,
        log_level="WARNING",
    )
    port = free_port()
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits
    ) as client:
        capacity = -(-streams * 12 // 10 // instances)  # 20 % headroom
        fleet = [ScriptedInstance(client, f"w{i:04d}", capacity) for i in range(instances)]
        started = time.perf_counter()
        await asyncio.gather(*(i.register() for i in fleet))
        latencies: list[float] = []
        while sum(len(i.running) for i in fleet) < streams:
            await asyncio.gather(*(timed_beat(i, latencies) for i in fleet))
        converge_s = time.perf_counter() - started

        latencies.clear()
        for instance in fleet * 3:  # one at a time: latency without queueing
            await timed_beat(instance, latencies)
        rounds = 3
        burst_started = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(i.follow() for i in fleet))
        beats_per_s = 2 * rounds * len(fleet) / (time.perf_counter() - burst_started)
        controller = app.state.runtime.controller
        tick_started = time.perf_counter()
        await controller.tick()
        tick_s = time.perf_counter() - tick_started

        victim, survivors = fleet[0], fleet[1:]
        orphaned = set(victim.running)
        died = time.perf_counter()
        while True:
            await asyncio.gather(*(i.follow() for i in survivors))
            if orphaned <= set().union(*(i.running for i in survivors)):
                break
        failover_s = time.perf_counter() - died

    server.should_exit = True
    await task
    print(f"streams={streams} instances={instances} backend={database_url.split(':')[0]}")
    print(f"  all streams running after      {converge_s:8.2f} s (register + follow)")
    print(
        f"  heartbeat latency p50 / p95     {1000 * statistics.median(latencies):8.1f} / "
        f"{1000 * percentile(latencies, 0.95):.1f} ms (one at a time, {len(latencies)} beats)"
    )
    print(f"  heartbeats per second           {beats_per_s:8.0f}   (all instances at once)")
    print(f"  one monitor tick (no change)    {1000 * tick_s:8.1f} ms")
    print(
        f"  failover of {len(orphaned)} streams       {failover_s:8.2f} s "
        f"(HEARTBEAT_TIMEOUT={timeout_s:g}s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=3.0, help="HEARTBEAT_TIMEOUT seconds")
    parser.add_argument("--sqlite", action="store_true", help="use SQLite instead of PostgreSQL")
    args = parser.parse_args()
    if args.sqlite:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.db"
            asyncio.run(run(args.streams, args.instances, url, args.timeout))
        return
    name = f"fv7_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        asyncio.run(run(args.streams, args.instances, url, args.timeout))
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
