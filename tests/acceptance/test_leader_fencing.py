"""Two orchestrator replicas (separate processes) on one PostgreSQL: a leader that dies or stalls.

The follower must lead within 2 s of the old leader dying, or of its lease lapsing while it is
paused; a paused leader that wakes up must not commit anything (asserted on the database: no
audit row carries its epoch after the takeover); no stream is ever granted to two instances.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx
import psycopg
import pytest

from tests.support.instances import ScriptedInstance, seed_streams
from tests.support.orchestrator import eventually, free_port

pytestmark = pytest.mark.acceptance

LEASE_S = 1.0
STREAMS = 30


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    log_file: BinaryIO

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def replicas(pg_url: str, tmp_path: Path) -> Iterator[tuple[Replica, Replica, str]]:
    """Replica A (started first, so it leads), replica B, and the database's DSN."""
    seed_streams(pg_url, STREAMS)
    dsn = pg_url.replace("postgresql+psycopg", "postgresql")
    env = os.environ | {
        "DATABASE_URL": dsn,
        "LEADER_LEASE_SECONDS": str(LEASE_S),
        "MONITOR_INTERVAL": "0.1",
        "HEARTBEAT_INTERVAL": "1",
        "HEARTBEAT_WARNING_THRESHOLD": "10",
        "HEARTBEAT_TIMEOUT": "20",
        "HEARTBEAT_FLUSH_INTERVAL": "0.1",
        "REBALANCE_COOLDOWN": "0",
        "LOG_LEVEL": "INFO",
    }
    started: list[Replica] = []
    for name in ("a", "b"):
        port = free_port()
        log_path = tmp_path / f"{name}.log"
        log_file = log_path.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "fingerv7", "orchestrator", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        replica = Replica(process, f"http://127.0.0.1:{port}", log_path, log_file)
        started.append(replica)
        _wait_serving(replica)
        if name == "a":
            _wait(lambda: _leader_pid(dsn) == started[0].process.pid, "replica a to lead")
    try:
        yield started[0], started[1], dsn
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGCONT)
                replica.process.terminate()
                replica.process.wait(timeout=30)
            replica.log_file.close()


def _wait(check, what: str, timeout_s: float = 30.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if check():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _wait_serving(replica: Replica) -> None:
    def serving() -> bool:
        try:
            return httpx.get(f"{replica.url}/health", timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    _wait(serving, f"{replica.url} to serve", 60)


def _fleet(dsn: str) -> tuple[str | None, int, int]:
    """(leader_id, leader_epoch, generation) as stored."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT leader_id, leader_epoch, generation FROM fleet_state WHERE id = 1"
        ).fetchone()
    assert row is not None
    return row[0], int(row[1]), int(row[2])


def _leader_pid(dsn: str) -> int | None:
    leader_id, _, _ = _fleet(dsn)
    with psycopg.connect(dsn) as conn:
        valid = conn.execute(
            "SELECT lease_expires_at > now() FROM fleet_state WHERE id = 1"
        ).fetchone()
    if leader_id is None or not (valid and valid[0]):
        return None
    return int(leader_id.split(":")[1])


def _changes_by_epoch(dsn: str, epoch: int) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM stream_changes WHERE leader_epoch = %s", (epoch,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def _holders(dsn: str) -> list[tuple[int, str | None, str | None]]:
    with psycopg.connect(dsn) as conn:
        return [
            (int(r[0]), r[1], r[2])
            for r in conn.execute("SELECT stream_id, target, holder FROM assignments")
        ]


def assert_never_two_owners(*instances: ScriptedInstance) -> None:
    for a in instances:
        for b in instances:
            if a is not b:
                assert not (a.desired & b.running), (a.instance_id, b.instance_id)
                assert not (a.desired & b.desired), (a.instance_id, b.instance_id)


async def _follow_until(instances: list[ScriptedInstance], check, what: str) -> None:
    async def step() -> bool:
        for instance in instances:
            await instance.follow()
            assert_never_two_owners(*instances)
        return bool(check())

    await eventually(step, timeout_s=30, what=what)


async def test_killed_leader_is_replaced_within_two_seconds(replicas) -> None:
    a, b, dsn = replicas
    async with httpx.AsyncClient(base_url=b.url, timeout=10) as client:
        w1, w2 = ScriptedInstance(client, "w1", 30), ScriptedInstance(client, "w2", 30)
        for instance in (w1, w2):
            await instance.register()
        await _follow_until([w1, w2], lambda: len(w1.running | w2.running) == STREAMS, "coverage")
        _, epoch_a, _ = _fleet(dsn)

        w3 = ScriptedInstance(client, "w3", 30)
        await w3.register()  # a rebalance is being planned and written now
        a.process.kill()
        took_s = _wait(lambda: _leader_pid(dsn) == b.process.pid, "replica b to lead", 10)
        assert took_s <= 2.0, f"the follower took {took_s:.2f}s to lead"
        _, epoch_b, _ = _fleet(dsn)
        assert epoch_b > epoch_a

        fleet = [w1, w2, w3]
        await _follow_until(
            fleet,
            lambda: len(w1.running | w2.running | w3.running) == STREAMS and w3.running,
            "every stream running, the new instance included",
        )
    assert sorted(s for s, target, holder in _holders(dsn) if target == holder) == list(
        range(1, STREAMS + 1)
    )
    assert "this process is now the leader (epoch" in b.log()


async def test_a_paused_leader_cannot_commit_after_waking(replicas) -> None:
    a, b, dsn = replicas
    async with httpx.AsyncClient(base_url=b.url, timeout=10) as client:
        w1 = ScriptedInstance(client, "w1", 30)
        await w1.register()
        await _follow_until([w1], lambda: len(w1.running) == STREAMS, "coverage")
        _, epoch_a, generation_before = _fleet(dsn)

        w2 = ScriptedInstance(client, "w2", 30)
        await w2.register()  # replica a starts planning the move of half the streams...
        a.process.send_signal(signal.SIGSTOP)  # ...and is frozen, perhaps mid-tick
        stopped_at = time.monotonic()
        _wait(lambda: _leader_pid(dsn) == b.process.pid, "replica b to lead", 10)
        took_s = time.monotonic() - stopped_at
        assert took_s <= LEASE_S + 2.0, f"the follower took {took_s:.2f}s after the pause"
        _, epoch_b, _ = _fleet(dsn)
        assert epoch_b > epoch_a
        fleet = [w1, w2]
        await _follow_until(fleet, lambda: len(w2.running) == STREAMS // 2, "w2 given its half")
        written_by_a = _changes_by_epoch(dsn, epoch_a)

        a.process.send_signal(signal.SIGCONT)  # the stale leader wakes up, caches and all
        _wait(
            lambda: "stale leader" in a.log() or "another process took the leader lease" in a.log(),
            "replica a to learn it no longer leads",
            10,
        )
        await _follow_until(fleet, lambda: len(w1.running | w2.running) == STREAMS, "coverage")
        leader_id, epoch_now, generation_now = _fleet(dsn)

    assert epoch_now == epoch_b and leader_id is not None
    assert int(leader_id.split(":")[1]) == b.process.pid
    assert _changes_by_epoch(dsn, epoch_a) == written_by_a, "the stale leader committed a write"
    assert generation_now >= generation_before
    assert "Traceback" not in b.log()  # a's aborted tick is logged with its traceback, as it must
