"""Failure drills with real processes: one orchestrator, three workers, local test streams.

Each drill judges the fleet from the workers' own journals: when each stream task started and
stopped. Throughout every drill no stream may be held by two workers at the same time.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fingerv7.worker.sample_streams import LocalStreamServer
from tests.acceptance.fleet_processes import HEARTBEAT_TIMEOUT_S, Fleet, wait_until

pytestmark = pytest.mark.acceptance

STREAM_COUNT = 12


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """Orchestrator + w1, w2, w3 sharing 12 streams, 4 each; everything stopped afterwards."""
    with LocalStreamServer() as streams:
        running = Fleet(tmp_path, streams)
        try:
            running.import_streams(STREAM_COUNT)
            running.start_orchestrator()
            for name in ("w1", "w2", "w3"):
                running.start_worker(name)
            wait_until(
                lambda: running.settled([4, 4, 4], all_streams()), 30, "4 streams per worker"
            )
            yield running
        finally:
            running.stop_everything()


def all_streams() -> list[int]:
    return list(range(1, STREAM_COUNT + 1))


def starts_elsewhere(fleet: Fleet, streams: set[int], not_on: str, after_mono: float) -> float:
    """When the last of `streams` started on another worker after `after_mono` (monotonic)."""
    latest = 0.0
    for stream_id in streams:
        starts = [
            e["mono"]
            for e in fleet.events()
            if e["event"] == "start"
            and e["stream_id"] == stream_id
            and e["instance_id"] != not_on
            and e["mono"] > after_mono
        ]
        if not starts:
            return 0.0
        latest = max(latest, min(starts))
    return latest


def test_kill_9_streams_run_elsewhere_within_timeout_plus_2s(fleet: Fleet) -> None:
    victim = fleet.holding()["w1"]
    dead_at = fleet.kill_worker("w1")
    landed = wait_until(
        lambda: starts_elsewhere(fleet, victim, "w1", dead_at), 15, "w1's streams elsewhere"
    )
    assert landed - dead_at <= HEARTBEAT_TIMEOUT_S + 2.0
    wait_until(lambda: fleet.settled([6, 6], all_streams()), 10, "6 + 6 on the survivors")
    fleet.assert_never_two_owners()


def test_sigterm_streams_run_elsewhere_within_2s(fleet: Fleet) -> None:
    victim = fleet.holding()["w2"]
    signalled_at = time.monotonic()
    fleet.workers["w2"].send_signal(signal.SIGTERM)
    landed = wait_until(
        lambda: starts_elsewhere(fleet, victim, "w2", signalled_at), 10, "w2's streams elsewhere"
    )
    assert landed - signalled_at <= 2.0
    assert fleet.workers["w2"].wait(timeout=10) == 0
    assert fleet.holding().get("w2", set()) == set()
    fleet.assert_never_two_owners()


def test_orchestrator_restart_moves_nothing(fleet: Fleet) -> None:
    before = fleet.holding()
    events_before = len(fleet.events())
    assert fleet.stop_orchestrator() in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM
    fleet.start_orchestrator()
    # Watch well past the grace period: every worker must keep its streams all along.
    time.sleep(2 * HEARTBEAT_TIMEOUT_S + 1)
    assert all(process.poll() is None for process in fleet.workers.values())
    assert fleet.holding() == before
    assert len(fleet.events()) == events_before, "a stream started or stopped"
    assert fleet.distribution() == before
    fleet.assert_never_two_owners()


def test_a_new_worker_takes_the_minimal_number_of_moves(tmp_path: Path) -> None:
    with LocalStreamServer() as streams:
        fleet = Fleet(tmp_path, streams)
        try:
            fleet.import_streams(STREAM_COUNT)
            fleet.start_orchestrator()
            fleet.start_worker("w1")
            fleet.start_worker("w2")
            wait_until(lambda: fleet.settled([6, 6], all_streams()), 30, "6 + 6")
            before = fleet.holding()
            added_at = time.monotonic()
            fleet.start_worker("w3")
            after = wait_until(lambda: fleet.settled([4, 4, 4], all_streams()), 30, "4 + 4 + 4")
            moved = [e for e in fleet.events() if e["mono"] > added_at and "stream_id" in e]
            # 12 streams over 3 workers: exactly 4 have to move, 2 from each, and no more.
            assert sorted((e["event"], e["instance_id"]) for e in moved) == sorted(
                [("stop", "w1")] * 2 + [("stop", "w2")] * 2 + [("start", "w3")] * 4
            )
            assert after["w1"] <= before["w1"] and after["w2"] <= before["w2"]
            fleet.assert_never_two_owners()
        finally:
            fleet.stop_everything()


def test_a_frozen_worker_is_replaced_and_drops_its_streams_on_resume(fleet: Fleet) -> None:
    process = fleet.workers["w3"]
    victim = fleet.holding()["w3"]
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGSTOP)
    try:
        landed = wait_until(
            lambda: starts_elsewhere(fleet, victim, "w3", stopped_at), 15, "re-placed"
        )
        assert landed - stopped_at <= HEARTBEAT_TIMEOUT_S + 2.0
        # Stay frozen a little longer than the timeout in any case.
        time.sleep(max(0.0, stopped_at + HEARTBEAT_TIMEOUT_S + 1 - time.monotonic()))
    finally:
        resumed_wall = datetime.now(UTC)
        process.send_signal(signal.SIGCONT)

    def fenced_stops() -> list[dict[str, object]]:
        events = fleet.events()
        fences = [e for e in events if e["event"] == "fence" and e["instance_id"] == "w3"]
        if not fences:
            return []
        return [
            e
            for e in events
            if e["event"] == "stop" and e["instance_id"] == "w3" and e["mono"] > fences[0]["mono"]
        ]

    stops = wait_until(lambda: len(fenced_stops()) >= len(victim) and fenced_stops(), 10, "drop")
    assert {e["stream_id"] for e in stops} >= victim
    for stop in stops:
        last = stop["last_activity"]
        assert last is None or datetime.fromisoformat(str(last)) < resumed_wall, (
            f"w3 processed stream {stop['stream_id']} after it resumed"
        )
    assert process.poll() is None, "a frozen worker recovers; it does not exit"
    fleet.assert_never_two_owners()
