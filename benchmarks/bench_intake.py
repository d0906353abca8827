"""Heartbeat intake: wrk against POST /heartbeat of a real orchestrator, and against a bare FastAPI
endpoint that parses the same body, in the same run (needs `wrk`: apt-get install wrk).

The orchestrator (`fingerv7 orchestrator`, PostgreSQL, MAX_WORKERS server processes) gets
--instances registered instances that own --streams streams between them; each one's steady
heartbeat (what it runs, the generation it applied) is what wrk sends, round robin. The
baseline is benchmarks/intake/bare_heartbeat_app.py under uvicorn with the same process count.

    .venv/bin/python benchmarks/bench_intake.py --instances 2000 --streams 100000 --processes 1 2 4

Each process count is measured in --rounds rounds, orchestrator then bare endpoint, each server
started afresh: on a shared machine the bare endpoint alone moved 3x between runs, so a ratio is
only worth the medians of interleaved rounds (every round is printed as it ends).

Not a test: figures go in docs/orchestrator.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.instances import seed_streams
from tests.support.orchestrator import free_port

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
HERE = Path(__file__).resolve().parent / "intake"
JSON = {"Content-Type": "application/json"}


def wait_serving(url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/docs", timeout=5).status_code < 500:
                return
        time.sleep(0.3)
    raise SystemExit(f"{url} did not come up")


async def steady_bodies(url: str, instances: int, capacity: int, streams: int) -> list[str]:
    """Register the fleet, then beat every instance until a whole pass answers no change and
    the fleet runs every stream (before the first plan every answer is a steady "nothing").

    Only then is each body a steady beat (what the instance runs is exactly what it holds, at
    the generation it holds): a body taken while later registrations still moved streams would
    measure the change path (urgent flush, discrepancy query), not intake.
    """
    names = [f"intake-{n:05d}" for n in range(instances)]
    running: dict[str, tuple[list[int], int]] = {name: ([], 0) for name in names}
    limit = asyncio.Semaphore(64)

    async def register(client: aiohttp.ClientSession, name: str) -> None:
        body = {
            "instance_id": name,
            "max_streams": capacity,
            "capabilities": ["audio_fingerprinting"],
        }
        async with limit, client.post("/register", json=body) as answer:
            answer.raise_for_status()

    async def beat(client: aiohttp.ClientSession, name: str) -> bool:
        streams, generation = running[name]
        body = {"instance_id": name, "stream_ids": streams, "generation": generation}
        async with limit, client.post("/heartbeat", json=body) as answer:
            answer.raise_for_status()
            reply = await answer.json()
        wanted = sorted(s["id"] for s in reply["streams"])
        running[name] = (wanted, reply["generation"])
        return wanted == streams and reply["generation"] == generation and not reply["commands"]

    # aiohttp, as the fleet simulator: httpx's CPU per request made settling the driver's work.
    async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=60)) as client:
        await asyncio.gather(*(register(client, name) for name in names))
        for _ in range(120):
            steady = await asyncio.gather(*(beat(client, name) for name in names))
            if all(steady) and sum(len(held) for held, _ in running.values()) == streams:
                break
            await asyncio.sleep(1)
        else:
            raise SystemExit("the fleet did not settle in 120 passes")
    return [steady_body(name, *running[name]) for name in names]


def steady_body(name: str, streams: list[int], generation: int) -> str:
    return json.dumps(
        {
            "instance_id": name,
            "status": "active",
            "stream_ids": streams,
            "generation": generation,
            "current_streams": len(streams),
            "processed_count": 1234,
            "cpu_usage": 12.5,
            "memory_usage": 40.0,
        },
        separators=(",", ":"),
    )


async def changed_answers(url: str, bodies: list[str]) -> int:
    """How many bodies the orchestrator answers with commands (0 when the bodies are steady)."""
    limit = asyncio.Semaphore(32)

    async def changed(client: aiohttp.ClientSession, body: str) -> bool:
        async with limit, client.post("/heartbeat", data=body, headers=JSON) as answer:
            return bool((await answer.json())["commands"])

    async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=60)) as client:
        return sum(await asyncio.gather(*(changed(client, body) for body in bodies)))


def run_wrk(url: str, bodies: Path, seconds: int, connections: int) -> dict[str, float]:
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "-s",
            str(HERE / "heartbeats.lua"),
            url,
        ],
        env=os.environ | {"BODIES": str(bodies)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"RESULT (.*)", output)
    if found is None:
        raise SystemExit(output)
    values = dict(pair.split("=") for pair in found.group(1).split())
    result = {key: float(value) for key, value in values.items()}
    result["per_second"] = round(result["requests"] / result["seconds"], 1)
    return result


def serve_bare(port: int, processes: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "benchmarks.intake.bare_heartbeat_app:app"),
            *("--port", str(port), "--workers", str(processes), "--log-level", "warning"),
        ],
        cwd=HERE.parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def serve_orchestrator(port: int, processes: int, dsn: str) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "DATABASE_URL": dsn,
        "MAX_WORKERS": str(processes),
        "HEARTBEAT_INTERVAL": "10",
        "HEARTBEAT_WARNING_THRESHOLD": "30",
        "HEARTBEAT_TIMEOUT": "60",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "fingerv7", "orchestrator", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


def measure_orchestrator(
    processes: int, dsn: str, bodies_file: Path, args: argparse.Namespace
) -> dict[str, float]:
    """One orchestrator run: settle the fleet the first time (its bodies are kept), warm up,
    measure, then check the bodies were steady (no answer carried commands)."""
    port = free_port()
    server = serve_orchestrator(port, processes, dsn)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_serving(url)
        if not bodies_file.exists():
            started = time.monotonic()
            capacity = max(1, -(-args.streams * 3 // (args.instances * 2)))
            bodies = asyncio.run(steady_bodies(url, args.instances, capacity, args.streams))
            bodies_file.write_text("\n".join(bodies) + "\n")
            print(f"fleet settled after {time.monotonic() - started:.0f} s", flush=True)
            time.sleep(3)  # let the last reports be written
        # Warm-up, not recorded: every server process fills its cache at start, and wrk must
        # not measure a process still doing so.
        run_wrk(url, bodies_file, args.warmup, args.connections)
        result = run_wrk(url, bodies_file, args.seconds, args.connections)
        result["changed_answers"] = asyncio.run(
            changed_answers(url, bodies_file.read_text().splitlines())
        )
        return result
    finally:
        stop(server)


def measure_bare(processes: int, bodies_file: Path, args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    bare = serve_bare(port, processes)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_serving(url)
        run_wrk(url, bodies_file, args.warmup, args.connections)
        return run_wrk(url, bodies_file, args.seconds, args.connections)
    finally:
        stop(bare)


def summarise(rounds: list[dict[str, dict[str, float]]]) -> dict[str, object]:
    """Medians over the rounds (the ratio of the median rates), and every round as measured."""

    def median_of(side: str, key: str) -> float:
        return round(statistics.median(r[side][key] for r in rounds), 1)

    orchestrator_rate = median_of("orchestrator", "per_second")
    bare_rate = median_of("bare_fastapi", "per_second")
    return {
        "median": {
            "orchestrator_per_second": orchestrator_rate,
            "orchestrator_p99_ms": median_of("orchestrator", "p99_ms"),
            "bare_per_second": bare_rate,
            "bare_p99_ms": median_of("bare_fastapi", "p99_ms"),
            "ratio": round(orchestrator_rate / bare_rate, 2),
        },
        "round_ratios": [
            round(r["orchestrator"]["per_second"] / r["bare_fastapi"]["per_second"], 2)
            for r in rounds
        ],
        "errors": sum(r[side]["errors"] + r[side]["non2xx"] for r in rounds for side in r),
        "changed_answers": sum(r["orchestrator"]["changed_answers"] for r in rounds),
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--streams", type=int, default=100_000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=10, help="s of unrecorded load first")
    parser.add_argument("--rounds", type=int, default=3, help="orchestrator/bare pairs per count")
    args = parser.parse_args()

    name = f"fv7_intake_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
    results: dict[str, object] = {
        "command": " ".join(sys.argv),
        "machine": f"{os.cpu_count()} cores (shared with wrk)",
        "wrk": f"-t2 -c{args.connections} -d{args.seconds}s after {args.warmup} s of warm-up",
    }
    try:
        seed_streams(dsn.replace("postgresql://", "postgresql+psycopg://"), args.streams)
        bodies_file = Path(tempfile.mkdtemp()) / "bodies.jsonl"
        for processes in args.processes:
            rounds: list[dict[str, dict[str, float]]] = []
            for round_number in range(1, args.rounds + 1):
                orchestrator = measure_orchestrator(processes, dsn, bodies_file, args)
                baseline = measure_bare(processes, bodies_file, args)
                rounds.append({"orchestrator": orchestrator, "bare_fastapi": baseline})
                print(
                    f"{processes} process(es), round {round_number}: "
                    f"orchestrator {orchestrator['per_second']:,.0f}/s "
                    f"p99 {orchestrator['p99_ms']:.0f} ms, "
                    f"bare {baseline['per_second']:,.0f}/s p99 {baseline['p99_ms']:.0f} ms",
                    flush=True,
                )
            results[f"{processes} process(es)"] = summarise(rounds)
        print(json.dumps(results, indent=2), flush=True)
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
