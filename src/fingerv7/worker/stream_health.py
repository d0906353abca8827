"""What a worker says about each of its streams in the heartbeat (issue 11).

Built from the supervisor's live :class:`~fingerv7.processing.StreamStats`; errors are
redacted first (a stream URL may carry a password or a token), and cut to a bounded length.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal, TypeGuard, get_args

from pydantic import BaseModel, Field

from fingerv7.core.credentials import redact_urls
from fingerv7.processing import StreamProcessor
from fingerv7.worker.supervisor import RunningStream

MAX_ERROR_CHARS = 300
# Within what the orchestrator accepts (orchestrator/health_reports.py): one value past them
# would refuse the whole heartbeat, and the instance would look dead.
MAX_PROBLEMS = 20
MAX_BITRATE_KBPS = 100_000  # a stream's icy-br header may say anything
ReportedState = Literal["starting", "connecting", "running", "reconnecting", "failed"]
_STATES = frozenset(get_args(ReportedState))


def _is_reported_state(status: str) -> TypeGuard[ReportedState]:
    return status in _STATES


class StreamHealthReport(BaseModel):
    stream_id: int
    state: ReportedState
    since: datetime | None
    last_error: str | None = None
    codec: str | None = None
    bitrate_kbps: int | None = None
    last_audio_at: datetime | None = None
    last_identified_at: datetime | None = None
    last_song: str | None = None
    identifications: int = 0


class PlayLogReport(BaseModel):
    """The plays identified but not yet in music_log (PlayLog.backlog), for the heartbeat."""

    plays_buffered: int
    oldest_age_seconds: float
    last_write_at: datetime | None = None
    unavailable: bool = False


def play_log_backlog(processor: object) -> dict[str, object] | None:
    """The processor's play-log backlog, when it logs plays (optional `play_log_backlog()`)."""
    backlog = getattr(processor, "play_log_backlog", None)
    return dict(backlog()) if callable(backlog) else None


def play_log_report(processor: object) -> PlayLogReport | None:
    backlog = play_log_backlog(processor)
    return None if backlog is None else PlayLogReport.model_validate(backlog)


class WorkerHealthReport(BaseModel):
    processor: str
    problems: list[str] = Field(default_factory=list)
    since: datetime | None = None  # when these problems (or their absence) began


def stream_reports(streams: Iterable[RunningStream]) -> list[StreamHealthReport]:
    reports = []
    for running in streams:
        stats = running.stats
        state: ReportedState = stats.status if _is_reported_state(stats.status) else "connecting"
        error = redact_urls(stats.last_error)[:MAX_ERROR_CHARS] if stats.last_error else None
        reports.append(
            StreamHealthReport(
                stream_id=running.stream.id,
                state=state,
                since=stats.status_since,
                last_error=error,
                codec=stats.codec,
                bitrate_kbps=_plausible_bitrate(stats.bitrate_kbps),
                last_audio_at=stats.last_activity,
                last_identified_at=stats.last_identified_at,
                last_song=stats.last_song[:300] if stats.last_song else None,
                identifications=stats.identifications,
            )
        )
    return reports


def processor_problems(processor: object) -> list[str]:
    """What stops the processor doing its job, if it can tell (optional `problems()` method)."""
    problems = getattr(processor, "problems", None)
    if not callable(problems):
        return []
    return [redact_urls(p)[:MAX_ERROR_CHARS] for p in list(problems())[:MAX_PROBLEMS]]


def _plausible_bitrate(kbps: int | None) -> int | None:
    return kbps if kbps is not None and kbps <= MAX_BITRATE_KBPS else None


class ProblemTracker:
    """The processor's problems, stamped with when they began (so the orchestrator can tell a
    new episode from the same one, whichever of its processes heard the previous report)."""

    def __init__(self) -> None:
        self._last: list[str] | None = None
        self._since: datetime | None = None

    def report(self, processor: StreamProcessor) -> WorkerHealthReport:
        problems = processor_problems(processor)
        if problems != self._last:
            self._last, self._since = problems, datetime.now(UTC)
        return WorkerHealthReport(processor=processor.name, problems=problems, since=self._since)


FULL_REPORT_EVERY = 10  # beats; a new orchestrator process catches up within that many


class HealthDelta:
    """Sends a stream's health only when it changed since the last delivered heartbeat, and
    everything every `FULL_REPORT_EVERY` beats: a thousand unchanged streams cost nothing.

    The orchestrator keeps the last report per stream (and each state change in its table),
    so an omitted stream means "as before". A failed heartbeat forgets what was sent.
    """

    def __init__(self, full_every: int = FULL_REPORT_EVERY) -> None:
        self._full_every = full_every
        self._sent: dict[int, tuple[object, ...]] = {}
        self._beats = 0

    def select(self, reports: list[StreamHealthReport]) -> list[StreamHealthReport]:
        full = self._beats % self._full_every == 0
        self._beats += 1
        chosen = []
        for report in reports:
            key = _change_key(report)
            if full or self._sent.get(report.stream_id) != key:
                chosen.append(report)
                self._sent[report.stream_id] = key
        running = {r.stream_id for r in reports}
        for stream_id in [s for s in self._sent if s not in running]:
            del self._sent[stream_id]
        return chosen

    def undelivered(self) -> None:
        """The heartbeat did not arrive: send everything next time."""
        self._sent.clear()
        self._beats = 0


def _change_key(report: StreamHealthReport) -> tuple[object, ...]:
    # Not last_audio_at: it moves every second on a healthy stream (sent with full reports).
    return (
        report.state,
        report.since,
        report.last_error,
        report.codec,
        report.bitrate_kbps,
        report.last_identified_at,
        report.last_song,
    )
