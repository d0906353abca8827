"""Workers against the real orchestrator (in this event loop, over real HTTP on loopback)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fingerv7.worker.agent import WorkerFatalError
from fingerv7.worker.journal import find_double_ownership, ownership_intervals, read_journal
from fingerv7.worker.sample_streams import LocalStreamServer
from tests.integration.worker.support import (
    Cluster,
    InProcessOrchestrator,
    import_streams,
    worker_settings,
)
from tests.support.orchestrator import eventually, free_port


def no_double_ownership(tmp_path: Path) -> None:
    intervals = ownership_intervals(read_journal(sorted(tmp_path.glob("*.jsonl"))))
    assert intervals, "the journals recorded nothing"
    assert find_double_ownership(intervals) == []


async def orchestrator_with_streams(
    cluster: Cluster, server: LocalStreamServer, count: int, **overrides: Any
) -> InProcessOrchestrator:
    database_url = f"sqlite:///{cluster.tmp_path / 'orchestrator.db'}"
    await import_streams(database_url, server, count, cluster.tmp_path)
    return await cluster.orchestrator(database_url, **overrides)


async def test_workers_share_the_streams_and_a_move_lands_in_under_a_second(
    tmp_path: Path, stream_server: LocalStreamServer, cluster: Cluster
) -> None:
    orchestrator = await orchestrator_with_streams(cluster, stream_server, 6)
    w1 = cluster.worker(worker_settings("w1", orchestrator.url, tmp_path / "w1.jsonl"))
    await eventually(lambda: len(w1.running) == 6, what="w1 runs every stream")
    w2 = cluster.worker(worker_settings("w2", orchestrator.url, tmp_path / "w2.jsonl"))
    await eventually(
        lambda: len(w1.running) == 3 and len(w2.running) == 3, what="rebalanced to 3 + 3"
    )
    assert sorted(w1.running + w2.running) == [1, 2, 3, 4, 5, 6]
    await eventually(
        lambda: stream_server.open_connections() == dict.fromkeys(range(1, 7), 1),
        what="one listener per stream",
    )

    # Drain w1: the orchestrator decides the moves; they must be running on w2 within 1 s.
    moving = set(w1.running)
    async with httpx.AsyncClient(base_url=orchestrator.url) as client:
        started = time.monotonic()
        response = await client.post("/instances/w1/drain")
        assert response.status_code == 200
        await eventually(lambda: moving <= set(w2.running), timeout_s=5, what="moved to w2")
        move_s = time.monotonic() - started
    assert move_s < 1.0, f"a drain took {move_s:.3f} s to land on the other worker"
    assert w1.running == []
    assert await w1.stop() == 0
    assert await w2.stop() == 0
    no_double_ownership(tmp_path)


async def test_unknown_instance_drops_everything_and_registers_again(
    tmp_path: Path, stream_server: LocalStreamServer, cluster: Cluster
) -> None:
    orchestrator = await orchestrator_with_streams(cluster, stream_server, 3)
    w1 = cluster.worker(worker_settings("w1", orchestrator.url, tmp_path / "w1.jsonl"))
    await eventually(lambda: len(w1.running) == 3, what="w1 runs every stream")
    async with httpx.AsyncClient(base_url=orchestrator.url) as client:
        assert (await client.delete("/instances/w1")).status_code == 200
    counters = w1.runtime.counters
    await eventually(lambda: counters.registrations == 2, what="registered again")
    assert counters.unknown_instance_resets >= 1
    await eventually(lambda: len(w1.running) == 3, what="streams back after re-registering")
    # Released at once, either by an empty desired set or by the 404 itself.
    stops = [e for e in read_journal([tmp_path / "w1.jsonl"]) if e["event"] == "stop"]
    assert sorted(e["stream_id"] for e in stops) == [1, 2, 3]


async def test_orchestrator_outage_keeps_streams_running_and_restart_moves_nothing(
    tmp_path: Path, stream_server: LocalStreamServer, cluster: Cluster
) -> None:
    orchestrator = await orchestrator_with_streams(cluster, stream_server, 4)
    settings = worker_settings("w1", orchestrator.url, tmp_path / "w1.jsonl")
    w1 = cluster.worker(settings.model_copy(update={"assignment_wait_seconds": 1.0}))
    await eventually(lambda: len(w1.running) == 4, what="w1 runs every stream")
    await orchestrator.stop()
    counters = w1.runtime.counters
    await eventually(lambda: counters.orchestrator_reachable is False, what="outage noticed")
    bytes_before = w1.runtime.supervisor.totals().bytes_read
    # The outage itself: three heartbeat timeouts with nobody answering.
    await asyncio.sleep(3 * settings.effective_heartbeat_timeout)
    assert len(w1.running) == 4, "streams must keep running while the orchestrator is away"
    assert w1.runtime.supervisor.totals().bytes_read > bytes_before
    assert w1.runtime.reporter.health()[0]["status"] == "degraded"

    await cluster.orchestrator(
        orchestrator.database_url, orchestrator.port, **orchestrator.overrides
    )
    ok_before = counters.heartbeats_ok
    await eventually(lambda: counters.heartbeats_ok > ok_before + 2, what="heartbeats again")
    assert counters.orchestrator_reachable is True
    assert counters.registrations == 1  # the restarted orchestrator still knew us
    events = read_journal([tmp_path / "w1.jsonl"])
    assert [e["event"] for e in events if e["event"] in ("start", "stop")] == ["start"] * 4


async def test_a_worker_started_before_the_orchestrator_registers_when_it_comes(
    tmp_path: Path, stream_server: LocalStreamServer, cluster: Cluster
) -> None:
    database_url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    await import_streams(database_url, stream_server, 2, tmp_path)
    port = free_port()
    w1 = cluster.worker(worker_settings("w1", f"http://127.0.0.1:{port}"))
    counters = w1.runtime.counters
    await eventually(lambda: counters.orchestrator_reachable is False, what="refused")
    assert not counters.registered
    await cluster.orchestrator(database_url, port)
    await eventually(lambda: len(w1.running) == 2, timeout_s=15, what="registered and running")
    assert counters.registrations == 1


async def test_shutdown_drains_to_the_other_worker(
    tmp_path: Path, stream_server: LocalStreamServer, cluster: Cluster
) -> None:
    orchestrator = await orchestrator_with_streams(cluster, stream_server, 4)
    w1 = cluster.worker(worker_settings("w1", orchestrator.url, tmp_path / "w1.jsonl"))
    w2 = cluster.worker(worker_settings("w2", orchestrator.url, tmp_path / "w2.jsonl"))
    await eventually(lambda: len(w1.running) == 2 and len(w2.running) == 2, what="2 + 2")
    started = time.monotonic()
    assert await w1.stop() == 0
    await eventually(lambda: len(w2.running) == 4, timeout_s=5, what="w2 takes over")
    assert time.monotonic() - started < 2.0
    events = read_journal([tmp_path / "w1.jsonl"])
    assert [e["event"] for e in events][-1] == "process_exit"
    assert await w2.stop() == 0
    no_double_ownership(tmp_path)


async def test_a_frozen_worker_drops_its_streams_without_processing_them(
    tmp_path: Path, stream_server: LocalStreamServer, cluster: Cluster
) -> None:
    orchestrator = await orchestrator_with_streams(cluster, stream_server, 3)
    w1 = cluster.worker(worker_settings("w1", orchestrator.url, tmp_path / "w1.jsonl"))
    await eventually(
        lambda: (
            len(w1.running) == 3
            and all(r.stats.processed > 2 for r in w1.runtime.supervisor.running_streams())
        ),
        what="w1 processing every stream",
    )
    held = {r.stream.id: r.stats for r in w1.runtime.supervisor.running_streams()}
    processed_before = {stream_id: stats.processed for stream_id, stats in held.items()}
    limit_s = w1.runtime.watchdog.limit_s
    time.sleep(limit_s + 0.5)  # freeze the whole event loop, as SIGSTOP would
    await eventually(lambda: w1.runtime.watchdog.freezes_detected == 1, what="freeze noticed")
    await eventually(lambda: w1.runtime.counters.registrations == 2, what="re-registered")
    assert {stream_id: stats.processed for stream_id, stats in held.items()} == processed_before
    events = read_journal([tmp_path / "w1.jsonl"])
    fence = next(e for e in events if e["event"] == "fence")
    assert fence["gap_to_mono"] - fence["gap_from_mono"] >= limit_s
    frozen_stops = [e for e in events if e["event"] == "stop" and "frozen" in e["reason"]]
    assert sorted(e["stream_id"] for e in frozen_stops) == sorted(held)
    await eventually(lambda: len(w1.running) == 3, what="streams back after the re-sync")


async def test_a_wrong_api_key_stops_the_worker_with_the_reason(
    tmp_path: Path, stream_server: LocalStreamServer, cluster: Cluster
) -> None:
    orchestrator = await orchestrator_with_streams(
        cluster, stream_server, 1, orchestrator_api_key="right-key"
    )
    wrong = worker_settings("w1", orchestrator.url, orchestrator_api_key="wrong-key")
    w1 = cluster.worker(wrong)
    with pytest.raises(WorkerFatalError, match="ORCHESTRATOR_API_KEY"):
        await w1.task
    right = worker_settings("w2", orchestrator.url, orchestrator_api_key="right-key")
    w2 = cluster.worker(right)
    await eventually(lambda: len(w2.running) == 1, what="w2 admitted")
