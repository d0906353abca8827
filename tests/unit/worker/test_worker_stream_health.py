"""What a worker reports about its streams: states since when, redacted errors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fingerv7.processing import AssignedStream, StreamStats
from fingerv7.worker.stream_health import (
    HealthDelta,
    StreamHealthReport,
    redact,
    stream_reports,
)
from fingerv7.worker.supervisor import RunningStream


def test_redact_hides_credentials_in_urls_and_query_strings() -> None:
    text = "ConnectError for http://user:s3cret@radio.example/live?token=abc&x=1;api_key=zz"
    assert redact(text) == (
        "ConnectError for http://***@radio.example/live?token=***&x=1;api_key=***"
    )
    assert redact("stream ended") == "stream ended"


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
