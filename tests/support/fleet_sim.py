"""Simulated instances that follow docs/protocol.md, and a real orchestrator process.

Shared by the fleet drill (tests/acceptance/test_fleet_drill.py) and benchmarks/bench_fleet.py:
each simulated instance registers, heartbeats every interval reporting what it runs, beats again
right after applying a new desired set, ignores answers older than what it applied (as the real
worker does), and keeps one long-poll open. A ledger records who runs what, so a stream added by
one instance while another still runs it is counted as a double ownership.

The simulated instances speak HTTP through aiohttp rather than httpx: the driver is the
measuring instrument, and on 2 cores its cost is taken from the orchestrator it measures.
aiohttp costs 0.5-0.7 ms of CPU per request here against httpx's 4.6 ms (200 clients posting a
heartbeat body to the bare FastAPI app of bench_intake), so at 2,000 instances httpx alone kept
the driver's event loop seconds late and its instances looked silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import psycopg

LONG_POLL_WAIT_S = 25.0
HTTP_ERRORS = (aiohttp.ClientError, TimeoutError)


@dataclass
class Ledger:
    """What the driver saw: who runs what, latencies, errors, double ownerships."""

    streams: int
    owner: dict[int, str] = field(default_factory=dict)
    double_ownerships: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (monotonic, seconds)
    heartbeats: int = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    @property
    def covered(self) -> bool:
        return len(self.owner) == self.streams


@dataclass
class SimInstance:
    """One worker as the protocol describes it (its audio work is not simulated)."""

    url: str
    ledger: Ledger
    instance_id: str
    max_streams: int
    interval_s: float
    running: set[int] = field(default_factory=set)
    generation: int = 0
    alive: bool = True
    last_beat_ok: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # Its own connections, as a real worker has: one for calls, one for the long-poll.
    client: aiohttp.ClientSession = field(init=False)
    poll_client: aiohttp.ClientSession = field(init=False)

    def __post_init__(self) -> None:
        self.client = aiohttp.ClientSession(self.url, connector=aiohttp.TCPConnector(limit=1))
        self.poll_client = aiohttp.ClientSession(self.url, connector=aiohttp.TCPConnector(limit=1))

    async def register(self) -> None:
        body = {
            "instance_id": self.instance_id,
            "max_streams": self.max_streams,
            "capabilities": ["audio_fingerprinting"],
            "version": "bench",
        }
        while self.alive:
            try:
                async with self.client.post("/register", json=body, timeout=_timeout(60)) as r:
                    await r.read()
                    if r.status == 200:
                        return
                    self.ledger.error(f"register {r.status}")
            except HTTP_ERRORS as error:
                self.ledger.error(f"register {type(error).__name__}")
            await asyncio.sleep(1)

    async def beat(self) -> None:
        """Report, apply the answer, and beat again at once when it changed something."""
        async with self.lock:
            for _ in range(3):
                if not self.alive or not await self._beat_once():
                    return

    async def _beat_once(self) -> bool:
        body = {
            "instance_id": self.instance_id,
            "status": "active",
            "stream_ids": sorted(self.running),
            "generation": self.generation,
            "current_streams": len(self.running),
            "processed_count": self.ledger.heartbeats,
        }
        started = time.monotonic()
        try:
            async with self.client.post("/heartbeat", json=body, timeout=_timeout(60)) as r:
                status = r.status
                answer: dict[str, Any] = await r.json() if status == 200 else {}
        except HTTP_ERRORS as error:
            self.ledger.error(f"heartbeat {type(error).__name__}")
            return False
        finished = time.monotonic()
        self.ledger.latencies.append((finished, finished - started))
        self.ledger.heartbeats += 1
        if status == 404:
            self.ledger.error("heartbeat 404 (re-registered)")
            self.apply(set(), 0)
            await self.register()
            return True
        if status != 200:
            self.ledger.error(f"heartbeat {status}")
            return False
        self.last_beat_ok = finished
        if answer["generation"] < self.generation:
            return False  # an older answer than one already applied (as the worker ignores it)
        desired = {s["id"] for s in answer["streams"]}
        if desired == self.running and answer["generation"] == self.generation:
            return False
        self.apply(desired, answer["generation"])
        return True

    def apply(self, desired: set[int], generation: int) -> None:
        owner = self.ledger.owner
        for stream_id in self.running - desired:
            if owner.get(stream_id) == self.instance_id:
                del owner[stream_id]
        for stream_id in desired - self.running:
            if stream_id in owner and owner[stream_id] != self.instance_id:
                self.ledger.double_ownerships += 1
            owner[stream_id] = self.instance_id
        self.running = set(desired)
        self.generation = generation

    async def heartbeat_loop(self) -> None:
        await self.register()
        await self.beat()
        # A worker opens its long-poll once registered (docs/protocol.md).
        self.tasks.append(asyncio.create_task(self.long_poll_loop()))
        await asyncio.sleep(random.uniform(0, self.interval_s))
        while self.alive:
            await self.beat()
            await asyncio.sleep(self.interval_s)

    async def long_poll_loop(self) -> None:
        while self.alive:
            try:
                async with self.poll_client.get(
                    f"/instances/{self.instance_id}/assignment",
                    params={"after_generation": self.generation, "wait": LONG_POLL_WAIT_S},
                    timeout=_timeout(LONG_POLL_WAIT_S + 30),
                ) as r:
                    status = r.status
                    answer: dict[str, Any] = await r.json() if status == 200 else {}
            except HTTP_ERRORS as error:
                self.ledger.error(f"long-poll {type(error).__name__}")
                await asyncio.sleep(1)
                continue
            if status == 404:
                await asyncio.sleep(1)  # the heartbeat loop re-registers
                continue
            if status != 200:
                self.ledger.error(f"long-poll {status}")
                await asyncio.sleep(1)
                continue
            if answer["generation"] > self.generation:
                await self.beat()

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self.heartbeat_loop())]

    async def die(self) -> None:
        """The process is gone: it runs nothing and says nothing more."""
        self.alive = False
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.apply(set(), self.generation)
        await self.close()

    async def close(self) -> None:
        await self.client.close()
        await self.poll_client.close()


def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds)


class Orchestrator:
    """`fingerv7 orchestrator` in a child process, with its CPU and memory readings."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fingerv7", "orchestrator", "--port", str(port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{port}"

    def processes(self) -> list[psutil.Process]:
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    def cpu_s(self) -> float:
        total = 0.0
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def rss_bytes(self) -> int:
        total = 0
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class StateWatch:
    """Reads instance states from the database (not the server) every second."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.flagged: dict[str, str] = {}
        self.stop = False

    async def run(self, live: dict[str, SimInstance]) -> None:
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            while not self.stop:
                rows = await (
                    await conn.execute(
                        "SELECT id, state FROM instances WHERE state IN ('warning', 'inactive')"
                    )
                ).fetchall()
                for instance_id, state in rows:
                    instance = live.get(instance_id)
                    if instance is not None and instance.alive:
                        self.flagged.setdefault(instance_id, state)
                await asyncio.sleep(1)


async def wait_until(check: Any, timeout_s: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if check():
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    return None
