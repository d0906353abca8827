"""Supervisor and reconciler with real stream tasks reading real local streams."""

from __future__ import annotations

from pathlib import Path

from fingerv7.processing import AssignedStream
from fingerv7.worker.journal import OwnershipJournal, read_journal
from fingerv7.worker.processors.probe import ProbeProcessor
from fingerv7.worker.reconciler import ApplyOutcome, Reconciler
from fingerv7.worker.sample_streams import LocalStreamServer
from fingerv7.worker.supervisor import StreamSupervisor
from tests.integration.worker.support import ScriptedProcessor
from tests.support.orchestrator import eventually


def streams(server: LocalStreamServer, *numbers: int) -> list[AssignedStream]:
    return [AssignedStream(id=n, url=server.url(n), name=f"Radio {n}") for n in numbers]


def journal_events(path: Path) -> list[tuple[str, int]]:
    return [(e["event"], e["stream_id"]) for e in read_journal([path]) if "stream_id" in e]


async def test_probe_reads_a_stream_and_releases_it_on_stop(
    stream_server: LocalStreamServer, tmp_path: Path
) -> None:
    probe = ProbeProcessor()
    supervisor = StreamSupervisor(probe, OwnershipJournal(tmp_path / "j.jsonl", "w1"))
    supervisor.start(streams(stream_server, 1)[0])
    running = supervisor.get(1)
    assert running is not None
    await eventually(lambda: running.stats.bytes_read > 10_000, what="bytes from the stream")
    assert running.stats.status == "running" and running.stats.processed > 0
    assert stream_server.open_connections() == {1: 1}
    assert await supervisor.stop(1, reason="unassigned")
    await eventually(lambda: stream_server.open_connections() == {}, what="connection closed")
    assert supervisor.totals().bytes_read == running.stats.bytes_read  # kept after retiring
    assert journal_events(tmp_path / "j.jsonl") == [("start", 1), ("stop", 1)]
    await probe.aclose()


async def test_probe_counts_errors_and_keeps_retrying(tmp_path: Path) -> None:
    probe = ProbeProcessor(reconnect_base_s=0.01, reconnect_max_s=0.05)
    supervisor = StreamSupervisor(probe, OwnershipJournal(None, "w1"))
    with LocalStreamServer() as server:
        missing = AssignedStream(id=9, url=f"{server.base_url}/nothing-here", name="gone")
        supervisor.start(missing)
        running = supervisor.get(9)
        assert running is not None
        await eventually(lambda: running.stats.errors >= 3, what="repeated failures")
        assert running.stats.status == "reconnecting"
        assert "404" in (running.stats.last_error or "")
        assert running.stats.restarts == 0  # handled inside the processor, not a crash
    await supervisor.stop_all(reason="test")
    await probe.aclose()


async def test_a_crashing_stream_restarts_and_the_others_keep_running() -> None:
    processor = ScriptedProcessor(crashes=2)
    supervisor = StreamSupervisor(
        processor, OwnershipJournal(None, "w1"), restart_base_s=0.01, restart_max_s=0.02
    )
    first, second = (AssignedStream(id=n, url="x", name=str(n)) for n in (1, 2))
    supervisor.start(first)
    supervisor.start(second)
    await eventually(
        lambda: all(r.stats.processed > 5 for r in supervisor.running_streams()),
        what="both streams working",
    )
    restarts = sorted(r.stats.restarts for r in supervisor.running_streams())
    assert sum(restarts) == 2 and supervisor.totals().restarts == 2
    assert supervisor.totals().errors == 2
    assert supervisor.running_ids() == [1, 2]
    await supervisor.stop_all(reason="test")


async def test_reconcile_stops_before_it_starts_and_reports_after(
    stream_server: LocalStreamServer, tmp_path: Path
) -> None:
    path = tmp_path / "j.jsonl"
    supervisor = StreamSupervisor(ScriptedProcessor(), OwnershipJournal(path, "w1"))
    reconciler = Reconciler(supervisor, max_streams=10)
    assert await reconciler.apply(streams(stream_server, 1, 2), 1, epoch=0) is ApplyOutcome.APPLIED
    assert reconciler.report() == ([1, 2], 1)
    assert reconciler.changed.is_set()
    reconciler.changed.clear()
    assert await reconciler.apply(streams(stream_server, 2, 3), 2, epoch=0) is ApplyOutcome.APPLIED
    assert reconciler.report() == ([2, 3], 2)
    assert journal_events(path)[2:] == [("stop", 1), ("start", 3)]
    # The same answer again changes nothing and wakes nobody.
    reconciler.changed.clear()
    assert (
        await reconciler.apply(streams(stream_server, 2, 3), 2, epoch=0) is ApplyOutcome.UNCHANGED
    )
    assert not reconciler.changed.is_set()
    await reconciler.reset(reason="test")


async def test_older_generations_and_answers_from_before_a_reset_are_ignored(
    stream_server: LocalStreamServer,
) -> None:
    supervisor = StreamSupervisor(ScriptedProcessor(), OwnershipJournal(None, "w1"))
    reconciler = Reconciler(supervisor, max_streams=10)
    await reconciler.apply(streams(stream_server, 1), 5, epoch=0)
    # A slow heartbeat answer (generation 4) arriving after a long-poll answer (5).
    assert await reconciler.apply(streams(stream_server, 1, 2), 4, epoch=0) is ApplyOutcome.STALE
    assert reconciler.report() == ([1], 5)
    epoch_before = reconciler.epoch
    assert await reconciler.reset(reason="instance unknown")
    assert reconciler.report() == ([], 0)
    stale = await reconciler.apply(streams(stream_server, 1), 6, epoch=epoch_before)
    assert stale is ApplyOutcome.STALE and reconciler.report() == ([], 0)
    fresh = await reconciler.apply(streams(stream_server, 1), 1, epoch=reconciler.epoch)
    assert fresh is ApplyOutcome.APPLIED and reconciler.report() == ([1], 1)
    await reconciler.reset(reason="test")


async def test_nothing_starts_without_a_valid_lease(stream_server: LocalStreamServer) -> None:
    lease = {"valid": False}
    supervisor = StreamSupervisor(ScriptedProcessor(), OwnershipJournal(None, "w1"))
    reconciler = Reconciler(supervisor, max_streams=10, lease_valid=lambda: lease["valid"])
    outcome = await reconciler.apply(streams(stream_server, 1), 1, epoch=0)
    assert outcome is ApplyOutcome.REFUSED and reconciler.report() == ([], 0)
    lease["valid"] = True
    assert await reconciler.apply(streams(stream_server, 1), 1, epoch=0) is ApplyOutcome.APPLIED
    await reconciler.reset(reason="test")


async def test_a_changed_url_restarts_the_stream(
    stream_server: LocalStreamServer, tmp_path: Path
) -> None:
    path = tmp_path / "j.jsonl"
    supervisor = StreamSupervisor(ScriptedProcessor(), OwnershipJournal(path, "w1"))
    reconciler = Reconciler(supervisor, max_streams=10)
    await reconciler.apply(streams(stream_server, 1), 1, epoch=0)
    moved = AssignedStream(id=1, url=stream_server.url(99), name="Radio 1")
    await reconciler.apply([moved], 2, epoch=0)
    running = supervisor.get(1)
    assert running is not None and running.stream.url == stream_server.url(99)
    assert journal_events(path) == [("start", 1), ("stop", 1), ("start", 1)]
    await reconciler.reset(reason="test")


async def test_max_streams_caps_what_runs(stream_server: LocalStreamServer) -> None:
    supervisor = StreamSupervisor(ScriptedProcessor(), OwnershipJournal(None, "w1"))
    reconciler = Reconciler(supervisor, max_streams=2)
    await reconciler.apply(streams(stream_server, 5, 3, 9), 1, epoch=0)
    assert reconciler.report() == ([3, 5], 1)
    await reconciler.reset(reason="test")


async def test_a_stream_that_will_not_stop_is_still_reported(
    stream_server: LocalStreamServer,
) -> None:
    supervisor = StreamSupervisor(
        ScriptedProcessor(on_cancel_delay_s=0.5), OwnershipJournal(None, "w1")
    )
    reconciler = Reconciler(supervisor, max_streams=10, stop_timeout_s=0.05)
    await reconciler.apply(streams(stream_server, 1), 1, epoch=0)
    assert await reconciler.apply([], 2, epoch=0) is ApplyOutcome.INCOMPLETE
    assert reconciler.report() == ([1], 1)  # not released, generation not advanced
    await eventually(lambda: (running := supervisor.get(1)) is not None and running.task.done())
    assert await reconciler.apply([], 2, epoch=0) is ApplyOutcome.APPLIED
    assert reconciler.report() == ([], 2)
