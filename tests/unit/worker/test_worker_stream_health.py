"""What a worker reports about its streams: states since when, redacted errors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fingerv7.api.schemas import HeartbeatRequest as OrchestratorHeartbeat
from fingerv7.playlog import Play, PlayBuffer, PlayLog, SqliteMusicLogWriter
from fingerv7.processing import AssignedStream, StreamStats
from fingerv7.worker.messages import HeartbeatRequest
from fingerv7.worker.stream_health import (
    MAX_PROBLEMS,
    HealthDelta,
    StreamHealthReport,
    play_log_report,
    processor_problems,
    stream_reports,
)
from fingerv7.worker.supervisor import RunningStream


def test_status_since_moves_only_when_the_status_changes() -> None:
    stats = StreamStats()
    started = stats.status_since
    assert started is not None
    stats.status = "starting"
    assert stats.status_since == started
    stats.status = "reconnecting"
    down_since = stats.status_since
    assert down_since is not None and down_since >= started
    stats.status = "reconnecting"  # every retry sets it again: the episode's start stays
    assert stats.status_since == down_since


async def test_reports_carry_state_detail_and_redacted_error() -> None:
    stats = StreamStats()
    stats.status = "reconnecting"
    stats.last_error = "HTTPStatusError: 503 for http://u:p@host/x"
    stats.codec, stats.bitrate_kbps = "mp3", 128
    task = asyncio.create_task(asyncio.sleep(0))
    await task
    (report,) = stream_reports([RunningStream(AssignedStream(7, "http://h", "Seven"), stats, task)])
    assert report.stream_id == 7 and report.state == "reconnecting"
    assert report.since == stats.status_since
    assert report.last_error == "HTTPStatusError: 503 for http://***@host/x"
    assert (report.codec, report.bitrate_kbps) == ("mp3", 128)


async def test_what_a_stream_or_processor_claims_stays_within_what_the_orchestrator_accepts() -> (
    None
):
    stats = StreamStats()
    stats.bitrate_kbps = 999_999  # icy-br: 999999, from a misconfigured radio
    task = asyncio.create_task(asyncio.sleep(0))
    await task
    (report,) = stream_reports([RunningStream(AssignedStream(7, "http://h", "Seven"), stats, task)])
    assert report.bitrate_kbps is None

    class Troubled:
        name = "fingerprint"

        def problems(self) -> list[str]:
            return [f"problem {i}" for i in range(25)]

    problems = processor_problems(Troubled())
    assert problems == [f"problem {i}" for i in range(MAX_PROBLEMS)]
    beat = OrchestratorHeartbeat.model_validate(
        {
            "instance_id": "w1",
            "stream_health": [report.model_dump(mode="json")],
            "worker_health": {"processor": "fingerprint", "problems": problems},
        }
    )
    assert beat.worker_health is not None and len(beat.worker_health.problems) == MAX_PROBLEMS


def test_only_changed_streams_are_sent_and_everything_every_tenth_beat() -> None:
    delta = HealthDelta(full_every=10)
    since = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    steady = [
        StreamHealthReport(stream_id=i, state="running", since=since, last_audio_at=since)
        for i in range(100)
    ]
    assert len(delta.select(steady)) == 100  # the first beat: everything
    later = [r.model_copy(update={"last_audio_at": datetime.now(UTC)}) for r in steady]
    assert delta.select(later) == []  # audio flowing is no change
    down = [*later[:99], later[99].model_copy(update={"state": "reconnecting"})]
    assert [r.stream_id for r in delta.select(down)] == [99]
    delta.undelivered()  # that heartbeat never arrived: send everything again
    assert len(delta.select(down)) == 100
    for _ in range(9):
        assert delta.select(down) == []
    assert len(delta.select(down)) == 100  # every tenth beat is complete


class PlayLoggingProcessor:
    """The part of a fingerprint processor the heartbeat reads: its play log's backlog."""

    def __init__(self, play_log: PlayLog) -> None:
        self.play_log = play_log

    def play_log_backlog(self) -> dict[str, object]:
        return self.play_log.backlog()


async def test_the_heartbeat_carries_the_play_log_backlog_the_orchestrator_accepts(
    tmp_path: Path,
) -> None:
    writer = SqliteMusicLogWriter(
        tmp_path / "music.db", "music_log", window_s=900, zone=ZoneInfo("UTC")
    )
    play_log = PlayLog(PlayBuffer(tmp_path / "buffer.sqlite3"), writer)  # not started: it waits
    heard = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    await play_log.record(Play(1, "Radio", "Artist", "Song", heard, "w1"))
    try:
        report = play_log_report(PlayLoggingProcessor(play_log))
        assert report is not None and report.plays_buffered == 1
        assert report.last_write_at is None and not report.unavailable
        beat = HeartbeatRequest(
            instance_id="w1",
            timestamp=heard,
            status="active",
            current_streams=0,
            processed_count=0,
            error_count=0,
            cpu_usage=0,
            memory_usage=0,
            last_activity=None,
            stream_ids=[],
            generation=0,
            play_log=report,
        )
        received = OrchestratorHeartbeat.model_validate(beat.model_dump(mode="json"))
        assert received.stats()["play_log"]["plays_buffered"] == 1
        assert play_log_report(object()) is None  # probe: no play log
    finally:
        await play_log.aclose(drain_timeout_s=0)
