"""A real fleet for the failure drills: `fingerv7 orchestrator` and `fingerv7 worker` processes.

Timeouts are short (heartbeat every 1 s, dead after 3 s) so each drill takes seconds. Each worker
writes its ownership journal (WORKER_JOURNAL_PATH); the drills judge the fleet from those files.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from fingerv7.worker.journal import (
    OwnershipInterval,
    find_double_ownership,
    ownership_intervals,
    read_journal,
)
from fingerv7.worker.sample_streams import LocalStreamServer

FINGERV7 = str(Path(sys.executable).parent / "fingerv7")
HEARTBEAT_INTERVAL_S = 1.0
HEARTBEAT_TIMEOUT_S = 3.0

ORCHESTRATOR_ENV = {
    "HEARTBEAT_INTERVAL": str(HEARTBEAT_INTERVAL_S),
    "HEARTBEAT_WARNING_THRESHOLD": "2",
    "HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
    "INSTANCE_REMOVAL_TIMEOUT": "600",
    "MONITOR_INTERVAL": "0.2",
    "HEARTBEAT_FLUSH_INTERVAL": "0.1",
    "STREAM_SYNC_INTERVAL": "1",
    "REBALANCE_COOLDOWN": "0",
    "IMBALANCE_THRESHOLD": "0",
    "MAX_STREAM_DIFFERENCE": "1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll `check` until truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last: {last!r})")


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {name: os.environ[name] for name in keep if name in os.environ}


@dataclass
class Fleet:
    """One orchestrator and any number of workers, all real processes, all stopped at the end."""

    workdir: Path
    streams: LocalStreamServer
    port: int = field(default_factory=free_port)
    orchestrator: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    died_at_mono: dict[int, float] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.workdir / 'orchestrator.db'}"

    # --- processes -------------------------------------------------------------------------

    def import_streams(self, count: int) -> list[int]:
        listing = self.workdir / "streams.json"
        rows = [{"url": self.streams.url(i), "name": f"Radio {i}"} for i in range(1, count + 1)]
        listing.write_text(json.dumps(rows))
        subprocess.run(
            [FINGERV7, "streams", "import", str(listing), "--database-url", self.database_url],
            check=True,
            cwd=self.workdir,
            env=_base_env(),
            capture_output=True,
        )
        return list(range(1, count + 1))

    def start_orchestrator(self, extra_env: Mapping[str, str] | None = None) -> None:
        env = _base_env() | ORCHESTRATOR_ENV | {"DATABASE_URL": self.database_url}
        env |= extra_env or {}
        with (self.workdir / "orchestrator.log").open("ab") as log:  # the child keeps its copy
            self.orchestrator = subprocess.Popen(
                [FINGERV7, "orchestrator", "--port", str(self.port)],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._orchestrator_answers, 30, "the orchestrator to answer")

    def stop_orchestrator(self) -> int:
        assert self.orchestrator is not None
        self.orchestrator.send_signal(signal.SIGTERM)
        return self.orchestrator.wait(timeout=20)

    def start_worker(
        self, name: str, extra_env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        env = _base_env() | {
            "INSTANCE_ID": name,
            "ORCHESTRATOR_URL": self.url,
            "MAX_STREAMS": "20",
            "HEARTBEAT_INTERVAL": str(HEARTBEAT_INTERVAL_S),
            "HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
            "ASSIGNMENT_WAIT_SECONDS": "5",
            "SHUTDOWN_TIMEOUT_SECONDS": "5",
            "WORKER_HTTP_HOST": "127.0.0.1",
            "WORKER_HTTP_PORT": "0",
            "WORKER_JOURNAL_PATH": str(self.journal_path(name)),
        }
        env |= extra_env or {}
        with (self.workdir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [FINGERV7, "worker"],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.workers[name] = process
        return process

    def kill_worker(self, name: str) -> float:
        """`kill -9`; returns the monotonic time by which the process was certainly dead."""
        process = self.workers[name]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        dead_at = time.monotonic()
        self.died_at_mono[process.pid] = dead_at
        return dead_at

    def stop_everything(self) -> None:
        for process in self.workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.send_signal(signal.SIGTERM)
        for process in self.workers.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.orchestrator is not None and self.orchestrator.poll() is None:
            self.orchestrator.send_signal(signal.SIGTERM)
            try:
                self.orchestrator.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.orchestrator.kill()
                self.orchestrator.wait()

    # --- what the fleet does ---------------------------------------------------------------

    def journal_path(self, name: str) -> Path:
        return self.workdir / f"journal-{name}.jsonl"

    def events(self) -> list[dict[str, Any]]:
        return read_journal(sorted(self.workdir.glob("journal-*.jsonl")))

    def intervals(self) -> list[OwnershipInterval]:
        return ownership_intervals(self.events(), self.died_at_mono)

    def holding(self) -> dict[str, set[int]]:
        """Instance → streams it holds right now, according to the journals."""
        held: dict[str, set[int]] = {}
        for interval in self.intervals():
            if interval.end_mono == float("inf"):
                held.setdefault(interval.instance_id, set()).add(interval.stream_id)
        return held

    def assert_never_two_owners(self) -> None:
        overlaps = find_double_ownership(self.intervals())
        assert overlaps == [], f"streams held by two workers at once: {overlaps[:5]}"

    def distribution(self) -> dict[str, set[int]]:
        """Instance → streams, as the orchestrator sees it (`GET /streams/status`)."""
        body = httpx.get(f"{self.url}/streams/status", timeout=5).json()
        return {d["instance_id"]: set(d["stream_ids"]) for d in body["distribution"]}

    def settled(self, expected_sizes: list[int], streams: list[int]) -> dict[str, set[int]] | None:
        """The holding, when every stream runs exactly once in groups of the expected sizes."""
        held = {name: ids for name, ids in self.holding().items() if ids}
        everything = sorted(i for ids in held.values() for i in ids)
        if everything != sorted(streams):
            return None
        if sorted(len(ids) for ids in held.values()) != sorted(expected_sizes):
            return None
        return held

    def _orchestrator_answers(self) -> bool:
        assert self.orchestrator is not None
        if self.orchestrator.poll() is not None:
            raise AssertionError(
                "orchestrator exited: " + (self.workdir / "orchestrator.log").read_text()[-2000:]
            )
        try:
            return httpx.get(f"{self.url}/streams/status", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
