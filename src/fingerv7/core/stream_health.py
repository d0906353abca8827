"""Stream health as the orchestrator tells it: one state per stream, from facts it already has.

Pure: no I/O, no clock. The orchestrator gathers who holds each stream, which instances are live
and reporting, and the latest health each worker reported; :func:`judge` turns them into one
:class:`StreamHealth` per stream. A stream only counts as `running` when an ACTIVE (or
recovering) instance both holds it and reports it running: a silent or INACTIVE instance runs
nothing, whatever it said last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from fingerv7.core.alerting import FLEET_WIDE, AlertRule, AlertSeverity
from fingerv7.core.planning.model import InstanceState


class StreamState(StrEnum):
    """The contract's states (`GET /streams/{id}` → `health.state`)."""

    RUNNING = "running"
    CONNECTING = "connecting"
    RECONNECTING = "reconnecting"
    UNASSIGNED = "unassigned"


# A worker's own words for a stream task (StreamStats.status) → the contract's state.
WORKER_STATES = {
    "starting": StreamState.CONNECTING,
    "connecting": StreamState.CONNECTING,
    "running": StreamState.RUNNING,
    "reconnecting": StreamState.RECONNECTING,
    "failed": StreamState.RECONNECTING,
}
# Instances whose reports are believed. WARNING has missed heartbeats: what it said is stale.
REPORTING_STATES = frozenset(
    {InstanceState.ACTIVE, InstanceState.RECOVERING, InstanceState.REGISTERED}
)


@dataclass(frozen=True, slots=True)
class ReportedHealth:
    """What one worker last said about one stream."""

    instance_id: str
    state: StreamState
    since: datetime
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    state: InstanceState
    last_seen_at: datetime
    reported: frozenset[int]


@dataclass(frozen=True, slots=True)
class StreamHealth:
    stream_id: int
    instance_id: str | None
    state: StreamState
    since: datetime | None
    reason: str | None = None  # why it is not running, when the orchestrator knows
    detail: Mapping[str, Any] = field(default_factory=dict)
    reported: bool = False  # the state is the holder's own report (not inferred from silence)

    @property
    def down(self) -> bool:
        return self.state is not StreamState.RUNNING

    def down_for_s(self, now: datetime) -> float:
        if not self.down or self.since is None:
            return 0.0
        return max(0.0, (now - self.since).total_seconds())

    def silent_for_s(self, now: datetime) -> float:
        """Seconds of audio without an identification (0 when not running or never reported)."""
        if self.down:
            return 0.0
        moments = [m for m in (self.detail.get("last_identified_at"), self.since) if m]
        if not all(isinstance(m, datetime) for m in moments) or not moments:
            return 0.0
        return max(0.0, (now - max(moments)).total_seconds())  # a stream just back is not silent

    def to_json(self, now: datetime) -> dict[str, Any]:
        body: dict[str, Any] = {
            "state": self.state.value,
            "since": self.since,
            "down_seconds": round(self.down_for_s(now), 1),
            "reason": self.reason,
        }
        return body | dict(self.detail)


def judge(
    stream_id: int,
    holder: str | None,
    instances: Mapping[str, InstanceFacts],
    report: ReportedHealth | None,
    assigned_at: datetime | None = None,
) -> StreamHealth:
    """One stream's health from its holder, that holder's liveness and the holder's report."""
    if holder is None:
        return StreamHealth(stream_id, None, StreamState.UNASSIGNED, assigned_at, "no instance")
    facts = instances.get(holder)
    if facts is None or facts.state not in REPORTING_STATES:
        state_word = facts.state.value if facts is not None else "unknown"
        since = facts.last_seen_at if facts is not None else assigned_at
        return StreamHealth(
            stream_id,
            holder,
            StreamState.RECONNECTING,
            since,
            f"instance {holder} is {state_word}: not heard from since its last heartbeat",
        )
    if stream_id not in facts.reported:
        return StreamHealth(
            stream_id,
            holder,
            StreamState.CONNECTING,
            assigned_at,
            "not started by its instance yet",
        )
    if report is None or report.instance_id != holder:
        # An older worker that sends no health: it runs the stream, that is all we know.
        return StreamHealth(stream_id, holder, StreamState.RUNNING, None)
    reason = report.detail.get("last_error") if report.state is not StreamState.RUNNING else None
    return StreamHealth(
        stream_id, holder, report.state, report.since, reason, report.detail, reported=True
    )


def count_states(healths: Iterable[StreamHealth]) -> dict[str, int]:
    counts = {state.value: 0 for state in StreamState}
    for health in healths:
        counts[health.state.value] += 1
    return counts


def problems_first(healths: Iterable[StreamHealth], now: datetime) -> list[StreamHealth]:
    """Down streams first (longest down first), then the rest by id."""
    return sorted(healths, key=lambda h: (not h.down, -h.down_for_s(now), h.stream_id))


# --- quarantine ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuarantineDecision:
    move_away: dict[int, str]  # stream → the instance to keep it off (the planner's input)
    newly_due: frozenset[int]  # the streams in it that are to leave their instance now
    ended: frozenset[int]  # streams moved earlier whose episode is over (reported running, gone)


def decide_quarantine(
    healths: Iterable[StreamHealth], now: datetime, after_s: float, moved: Mapping[int, str]
) -> QuarantineDecision:
    """`STREAM_QUARANTINE_SECONDS`: which streams to keep off the instance they failed on.

    A stream its live holder itself reports down (connecting or reconnecting) for longer than
    `after_s` is to leave that instance: the fault may be its network or VPN exit. Once per
    episode: `moved` holds the streams already moved (and the instance they left); until one
    has run again it is not moved a second time, so a source that is down everywhere is not
    passed around, and it stays away from the instance it left. Only a holder's report of
    `running` ends the episode: a new holder that has not reported yet is not proof. A silent or
    dead holder is failover's business, not this. `after_s` <= 0 turns it off.
    """
    if after_s <= 0:
        return QuarantineDecision({}, frozenset(), frozenset(moved))
    due: dict[int, str] = {}
    listed: set[int] = set()
    running: set[int] = set()  # its holder says it runs (not merely a holder without a report)
    for health in healths:
        listed.add(health.stream_id)
        if health.reported and not health.down:
            running.add(health.stream_id)
        elif (
            health.instance_id is not None
            and health.stream_id not in moved
            and _overdue(health, now, after_s)
        ):
            due[health.stream_id] = health.instance_id
    ongoing = {s: i for s, i in moved.items() if s in listed and s not in running}
    ended = frozenset(moved) - frozenset(ongoing)
    return QuarantineDecision(ongoing | due, frozenset(due), ended)


def _overdue(health: StreamHealth, now: datetime, after_s: float) -> bool:
    """Down by its holder's own report for longer than `after_s`."""
    return health.reported and health.down and health.down_for_s(now) > after_s


# --- alerts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamAlertThresholds:
    down_s: float = 300  # STREAM_DOWN_ALERT_SECONDS
    silent_s: float = 1800  # STREAM_SILENT_ALERT_SECONDS
    down_share: float = 0.2  # STREAMS_DOWN_SHARE_ALERT
    down_share_for_s: float = 120  # a failover briefly takes many streams down: not an alert


@dataclass(frozen=True, slots=True)
class StreamHealthSnapshot:
    """What the stream alert rules look at, with the time it was taken."""

    now: datetime
    healths: tuple[StreamHealth, ...]


def stream_rules(limits: StreamAlertThresholds) -> tuple[AlertRule[StreamHealthSnapshot], ...]:
    """`StreamDown` (per stream), `StreamSilent` (per stream), `StreamsDownShare` (fleet).

    Durations are measured from the stream's own `since`, so the rules need no `for`.
    """

    def down(snapshot: StreamHealthSnapshot) -> Mapping[str, str]:
        return {
            str(h.stream_id): (
                f"Stream {h.stream_id} is {h.state.value} for {h.down_for_s(snapshot.now):.0f}s"
                f" (instance {h.instance_id or 'none'}): {h.reason or 'no detail'}"
            )
            for h in snapshot.healths
            if h.state is not StreamState.UNASSIGNED and h.down_for_s(snapshot.now) > limits.down_s
        }

    def silent(snapshot: StreamHealthSnapshot) -> Mapping[str, str]:
        return {
            str(h.stream_id): (
                f"Stream {h.stream_id} (instance {h.instance_id}) has had no identification for"
                f" {h.silent_for_s(snapshot.now):.0f}s"
            )
            for h in snapshot.healths
            if "last_identified_at" in h.detail and h.silent_for_s(snapshot.now) > limits.silent_s
        }

    def share(snapshot: StreamHealthSnapshot) -> Mapping[str, str]:
        total = len(snapshot.healths)
        down_count = sum(1 for h in snapshot.healths if h.down)
        if not total or down_count / total <= limits.down_share:
            return {}
        return {FLEET_WIDE: f"{down_count} of {total} streams are not running."}

    critical, warning = AlertSeverity.CRITICAL, AlertSeverity.WARNING
    return (
        AlertRule("StreamDown", warning, "Stream down", 0, down),
        AlertRule("StreamSilent", warning, "Stream without identifications", 0, silent),
        AlertRule(
            "StreamsDownShare", critical, "Many streams down", limits.down_share_for_s, share
        ),
    )
