"""The control plane at fleet scale: a real orchestrator process, a separate driver process.

The orchestrator runs as `fingerv7 orchestrator` (uvicorn, PostgreSQL) in a child process; this
process is the driver. It simulates instances that follow docs/protocol.md exactly: register,
heartbeat every HEARTBEAT_INTERVAL s reporting what they run, beat again right after applying a
new desired set, and keep one long-poll open each. Then it reports:

- time until every stream runs (from the first registration, and from the last);
- heartbeat latency percentiles at steady state, client side and from the server's histogram;
- the orchestrator's CPU (cores) and RSS at steady state (all its processes);
- failover: after 1% of the instances die, time until their streams run elsewhere;
- live instances ever declared WARNING or INACTIVE (read from the database), double ownerships
  seen by the driver (a stream added by one instance while another still runs it), and errors.

    .venv/bin/python benchmarks/bench_fleet.py --streams 100000 --instances 2000
    .venv/bin/python benchmarks/bench_fleet.py --streams 10000 --instances 200 --workers 2

Not a test: the figures go in docs/orchestrator.md with the command that produced them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.fleet_sim import Ledger, Orchestrator, SimInstance, StateWatch, wait_until
from tests.support.instances import seed_streams
from tests.support.orchestrator import free_port

from fingerv7.orchestrator.gc_tuning import tune_collector

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
TICKS = "fingerv7_monitor_tick_seconds"


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def start_profiler(
    output: str | None, orchestrator: Orchestrator, seconds: float
) -> subprocess.Popen[bytes] | None:
    """py-spy over the orchestrator's processes during the steady phase (--profile FILE.svg)."""
    if output is None:
        return None
    py_spy = Path(sys.executable).with_name("py-spy")
    style = "raw" if output.endswith(".txt") else "flamegraph"
    command = [str(py_spy), "record", "--subprocesses", "--duration", str(int(seconds))]
    command += ["--rate", "200", "--format", style, "--output", output]
    return subprocess.Popen(
        [*command, "--pid", str(orchestrator.process.pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def histogram_buckets(exposition: str, name: str, label: str = "") -> dict[float, float]:
    """Cumulative bucket counts of one histogram (of the series whose labels contain `label`)."""
    buckets = {}
    for line in exposition.splitlines():
        if line.startswith(f"{name}_bucket") and label in line:
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float("inf") if bound == "+Inf" else float(bound)] = float(line.split()[-1])
    return buckets


def bucket_percentile(before: dict[float, float], after: dict[float, float], q: float) -> str:
    """Upper bound of the bucket holding quantile q of the observations between two scrapes."""
    counts = {bound: after.get(bound, 0) - before.get(bound, 0) for bound in after}
    total = counts.get(float("inf"), 0)
    if not total:
        return "n/a"
    for bound in sorted(counts):
        if counts[bound] >= q * total:
            return f"<= {bound * 1000:g} ms" if bound != float("inf") else "> last bucket"
    return "n/a"


async def loop_lag(lags: list[float], every_s: float = 0.05) -> None:
    """How late this process's event loop wakes from a sleep: the driver's own queueing."""
    while True:
        asked = time.monotonic()
        await asyncio.sleep(every_s)
        lags.append(max(0.0, time.monotonic() - asked - every_s))


async def coverage_timeline(
    fleet: dict[str, SimInstance], ledger: Ledger, timeline: list[tuple[int, int, int]]
) -> None:
    """(second, instances answered, streams running) each second until full coverage: shows
    whether the time goes to registering the fleet or to moving streams afterwards."""
    started = time.monotonic()
    while True:
        answered = sum(1 for i in fleet.values() if i.last_beat_ok)
        timeline.append((round(time.monotonic() - started), answered, len(ledger.owner)))
        await asyncio.sleep(1)


async def start_probe(url: str) -> subprocess.Popen[bytes]:
    """fleet_probe.py in its own process, its instances registered and drained."""
    probe = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("fleet_probe.py")), url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert probe.stdout is not None
    line = await asyncio.to_thread(probe.stdout.readline)
    if line.strip() != b"ready":
        raise SystemExit(f"the probe did not start: {line!r}")
    return probe


def probe_result(probe: subprocess.Popen[bytes]) -> dict[str, Any]:
    assert probe.stdout is not None
    result: dict[str, Any] = json.loads(probe.stdout.readline())
    probe.wait(timeout=30)
    return result


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics/prometheus", timeout=60)
    return response.text


async def drive(args: argparse.Namespace, orchestrator: Orchestrator, dsn: str) -> dict[str, Any]:
    ledger = Ledger(args.streams)
    capacity = max(1, -(-args.streams * 3 // (args.instances * 2)))  # 1.5x headroom
    report: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=orchestrator.url) as client:
        fleet = {
            f"bench-{n:05d}": SimInstance(
                orchestrator.url, ledger, f"bench-{n:05d}", capacity, args.heartbeat_interval
            )
            for n in range(args.instances)
        }
        watch = StateWatch(dsn)
        watch_task = asyncio.create_task(watch.run(fleet))
        probe = await start_probe(orchestrator.url)
        started = time.monotonic()
        for instance in fleet.values():
            instance.start()
        timeline: list[tuple[int, int, int]] = []
        timeline_task = asyncio.create_task(coverage_timeline(fleet, ledger, timeline))
        registered = await wait_until(
            lambda: all(i.last_beat_ok for i in fleet.values()), args.coverage_timeout
        )
        report["fleet_registered_s"] = registered
        covered = await wait_until(lambda: ledger.covered, args.coverage_timeout)
        report["full_coverage_from_first_registration_s"] = (
            None if covered is None else (registered or 0) + covered
        )
        report["full_coverage_after_fleet_registered_s"] = covered
        report["coverage_at_deadline"] = len(ledger.owner)
        timeline_task.cancel()
        report["coverage_timeline"] = timeline
        if covered is None:
            await stop_fleet(fleet)
            probe.kill()
            watch_task.cancel()
            return report | finish(ledger, watch, time.monotonic() - started)

        await asyncio.sleep(args.settle)
        exposition = await scrape(client)
        before = histogram_buckets(exposition, "fingerv7_heartbeat_latency_seconds")
        ticks_before = histogram_buckets(exposition, TICKS, 'outcome="noop"')
        profiler = start_profiler(args.profile, orchestrator, args.steady)
        cpu_before, steady_start = orchestrator.cpu_s(), time.monotonic()
        driver_cpu_before = time.process_time()
        assert probe.stdin is not None
        probe.stdin.write(f"go {args.steady}\n".encode())
        probe.stdin.flush()
        lag_task = asyncio.create_task(loop_lag(lags := []))
        rss_samples = []
        while time.monotonic() - steady_start < args.steady:
            rss_samples.append(orchestrator.rss_bytes())
            await asyncio.sleep(1)
        steady_end = time.monotonic()
        if profiler is not None:
            profiler.wait()
        lag_task.cancel()
        probed = await asyncio.to_thread(probe_result, probe)
        cpu_cores = (orchestrator.cpu_s() - cpu_before) / (steady_end - steady_start)
        driver_cores = (time.process_time() - driver_cpu_before) / (steady_end - steady_start)
        exposition = await scrape(client)
        after = histogram_buckets(exposition, "fingerv7_heartbeat_latency_seconds")
        ticks_after = histogram_buckets(exposition, TICKS, 'outcome="noop"')
        steady = [s for t, s in ledger.latencies if steady_start <= t <= steady_end]
        report["steady"] = {
            "seconds": round(steady_end - steady_start, 1),
            "heartbeats": len(steady),
            "client_p50_ms": round(percentile(steady, 0.50) * 1000, 1),
            "client_p99_ms": round(percentile(steady, 0.99) * 1000, 1),
            "client_max_ms": round(max(steady, default=float("nan")) * 1000, 1),
            # A worker's view: beats from a quiet process of their own (fleet_probe.py).
            "probe_beats": len(probed["latencies"]),
            "probe_p50_ms": round(percentile(probed["latencies"], 0.50) * 1000, 1),
            "probe_p99_ms": round(percentile(probed["latencies"], 0.99) * 1000, 1),
            "probe_max_ms": round(max(probed["latencies"], default=float("nan")) * 1000, 1),
            "probe_errors": probed["errors"],
            "server_p50": bucket_percentile(before, after, 0.50),
            "server_p99": bucket_percentile(before, after, 0.99),
            "noop_ticks": ticks_after.get(float("inf"), 0) - ticks_before.get(float("inf"), 0),
            "noop_tick_p50": bucket_percentile(ticks_before, ticks_after, 0.50),
            "noop_tick_p99": bucket_percentile(ticks_before, ticks_after, 0.99),
            "orchestrator_cpu_cores": round(cpu_cores, 3),
            "orchestrator_rss_mib": round(max(rss_samples) / 2**20, 1),
            # The driver's own share of the client figures: how late its event loop wakes.
            "driver_cpu_cores": round(driver_cores, 3),
            "driver_loop_lag_p50_ms": round(percentile(lags, 0.50) * 1000, 1),
            "driver_loop_lag_p99_ms": round(percentile(lags, 0.99) * 1000, 1),
        }

        victims = random.sample(list(fleet.values()), max(1, args.instances // 100))
        last_beat = max(v.last_beat_ok for v in victims)
        killed_at = time.monotonic()
        for victim in victims:
            await victim.die()
        failover = await wait_until(
            lambda: ledger.covered, args.heartbeat_timeout + args.failover_margin
        )
        report["failover"] = {
            "instances_killed": len(victims),
            "streams_orphaned": args.streams - len(ledger.owner) if failover is None else None,
            "seconds_after_kill": None if failover is None else round(failover, 1),
            "seconds_after_their_last_heartbeat": None
            if failover is None
            else round(killed_at + failover - last_beat, 1),
            "heartbeat_timeout_s": args.heartbeat_timeout,
        }
        await stop_fleet(fleet)
        watch_task.cancel()
        return report | finish(ledger, watch, time.monotonic() - started)


async def stop_fleet(fleet: dict[str, SimInstance]) -> None:
    for instance in fleet.values():
        if instance.alive:
            await instance.die()


def finish(ledger: Ledger, watch: StateWatch, elapsed_s: float) -> dict[str, Any]:
    watch.stop = True
    return {
        "live_instances_flagged_warning_or_inactive": len(watch.flagged),
        "flagged_examples": dict(list(watch.flagged.items())[:5]),
        "double_ownerships": ledger.double_ownerships,
        "errors": ledger.errors,
        "heartbeats_sent": ledger.heartbeats,
        "run_seconds": round(elapsed_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1, help="MAX_WORKERS of the orchestrator")
    parser.add_argument("--heartbeat-interval", type=float, default=10)
    parser.add_argument("--heartbeat-timeout", type=float, default=60)
    parser.add_argument("--coverage-timeout", type=float, default=300)
    parser.add_argument("--settle", type=float, default=15, help="s after coverage before steady")
    parser.add_argument("--steady", type=float, default=60, help="s of steady-state measurement")
    parser.add_argument("--failover-margin", type=float, default=30)
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument(
        "--orchestrator-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment of the orchestrator (e.g. PYTHONASYNCIODEBUG=1 to log slow steps)",
    )
    parser.add_argument("--profile", help="py-spy output during the steady phase (.svg or .txt)")
    args = parser.parse_args()

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    name = f"fv7_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
    log_path = Path(f"/tmp/{name}.log")
    orchestrator: Orchestrator | None = None
    try:
        seeded = time.monotonic()
        seed_streams(dsn.replace("postgresql://", "postgresql+psycopg://"), args.streams)
        seed_s = time.monotonic() - seeded
        port = free_port()
        env = os.environ | {
            "DATABASE_URL": dsn,
            "MAX_WORKERS": str(args.workers),
            "HEARTBEAT_INTERVAL": str(args.heartbeat_interval),
            "HEARTBEAT_WARNING_THRESHOLD": str(args.heartbeat_timeout / 2),
            "HEARTBEAT_TIMEOUT": str(args.heartbeat_timeout),
            "LOG_LEVEL": "WARNING",
        }
        env |= dict(pair.split("=", 1) for pair in args.orchestrator_env)
        orchestrator = Orchestrator(env, port, log_path)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{orchestrator.url}/health", timeout=5).status_code < 500:
                    break
            time.sleep(0.3)
        report = {
            "command": " ".join(sys.argv),
            "machine": f"{os.cpu_count()} cores (shared), "
            f"{psutil.virtual_memory().total >> 30} GiB",
            "streams": args.streams,
            "instances": args.instances,
            "orchestrator_processes": args.workers,
            "seed_seconds": round(seed_s, 1),
        }
        driver_cpu_before = time.process_time()
        # One process simulates 2,000 workers: its own collector pauses would read as slow
        # heartbeats, so it uses the orchestrator's setting (fingerv7.orchestrator.gc_tuning).
        tune_collector()
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            report |= runner.run(drive(args, orchestrator, dsn))
        report["driver_cpu_seconds"] = round(time.process_time() - driver_cpu_before, 1)
        print(json.dumps(report, indent=2))
    finally:
        if orchestrator is not None:
            orchestrator.stop()
            print(f"orchestrator log: {log_path}", file=sys.stderr)
        if not args.keep_database:
            with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
