"""Simulated instances that follow docs/protocol.md, and a real orchestrator process.

Shared by the fleet drill (tests/acceptance/test_fleet_drill.py) and benchmarks/bench_fleet.py:
each simulated instance registers, heartbeats every interval reporting what it runs, beats again
right after applying a new desired set, ignores answers older than what it applied (as the real
worker does), and keeps one long-poll open. A ledger records who runs what, so a stream added by
one instance while another still runs it is counted as a double ownership.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

LONG_POLL_WAIT_S = 25.0
_TLS = ssl.create_default_context()


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
    # Its own connections, as a real worker has (one shared client pool for thousands of
    # instances costs the driver more than the server it measures).
    client: httpx.AsyncClient = field(init=False)
    poll_client: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        # One TLS context for all (plain HTTP here): httpx builds one per client otherwise,
        # about 1 MB and a few ms each, which thousands of simulated instances cannot afford.
        self.client = httpx.AsyncClient(base_url=self.url, verify=_TLS)
        self.poll_client = httpx.AsyncClient(base_url=self.url, verify=_TLS)

    async def register(self) -> None:
        body = {
            "instance_id": self.instance_id,
            "max_streams": self.max_streams,
            "capabilities": ["audio_fingerprinting"],
            "version": "bench",
        }
        while self.alive:
            try:
                response = await self.client.post("/register", json=body, timeout=60)
                if response.status_code == 200:
                    return
                self.ledger.error(f"register {response.status_code}")
            except httpx.HTTPError as error:
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
            response = await self.client.post("/heartbeat", json=body, timeout=60)
        except httpx.HTTPError as error:
            self.ledger.error(f"heartbeat {type(error).__name__}")
            return False
        finished = time.monotonic()
        self.ledger.latencies.append((finished, finished - started))
        self.ledger.heartbeats += 1
        if response.status_code == 404:
            self.ledger.error("heartbeat 404 (re-registered)")
            self.apply(set(), 0)
            await self.register()
            return True
        if response.status_code != 200:
            self.ledger.error(f"heartbeat {response.status_code}")
            return False
        self.last_beat_ok = finished
        answer = response.json()
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
                response = await self.poll_client.get(
                    f"/instances/{self.instance_id}/assignment",
                    params={"after_generation": self.generation, "wait": LONG_POLL_WAIT_S},
                    timeout=LONG_POLL_WAIT_S + 30,
                )
            except httpx.HTTPError as error:
                self.ledger.error(f"long-poll {type(error).__name__}")
                await asyncio.sleep(1)
                continue
            if response.status_code == 404:
                await asyncio.sleep(1)  # the heartbeat loop re-registers
                continue
            if response.status_code != 200:
                self.ledger.error(f"long-poll {response.status_code}")
                await asyncio.sleep(1)
                continue
            if response.json()["generation"] > self.generation:
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
        await self.client.aclose()
        await self.poll_client.aclose()


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
