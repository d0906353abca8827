"""Built-in alert rules and their evaluation: when to tell a person, and when to stay quiet.

The orchestrator's monitor calls :meth:`AlertEvaluator.evaluate` on every tick with a small
:class:`FleetSnapshot`. A rule fires only after its condition has held for `for_s` seconds (as a
Prometheus rule's `for:`), so a blip never pages anyone. Each alert (a rule, and a subject such as
an instance id for per-instance rules) produces at most one FIRING event per episode and one
RESOLVED event when the episode that was announced ends. A cooldown bounds how often the same alert
may announce itself: a condition that flaps produces at most one FIRING and one RESOLVED per
cooldown, and an episode that started during the cooldown is announced when the cooldown ends if it
still holds, so nothing that lasts goes unreported.

The rule names are the alert names in `deploy/prometheus/alerts.yml`, so the same alert carries the
same name in Slack whether it came from Prometheus or from the orchestrator itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

FLEET_WIDE = ""  # the subject of rules about the whole fleet rather than one instance


class AlertSeverity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    """What the alert rules look at, gathered by the orchestrator once per monitor tick.

    `memory_ratio` is the orchestrator's resident memory over its limit (0..1) and `error_rate` the
    share of failed requests over the orchestrator's recent window (0..1); `None` means unknown (no
    limit known, no request in the window) and never fires. `state_changes_by_instance` counts each
    instance's entries into INACTIVE (ACTIVE <-> INACTIVE cycles) within the flapping window.
    """

    active_instances: int
    unassigned_streams: int
    external_db_up: bool
    memory_ratio: float | None = None
    error_rate: float | None = None
    state_changes_by_instance: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AlertThresholds:
    """Limits and `for` durations of the built-in rules; defaults are the manual's alerts."""

    memory_ratio: float = 0.90
    error_rate: float = 0.05
    flapping_state_changes: int = 4  # more INACTIVE episodes than this in the window: flapping
    flapping_window_s: float = 1800
    external_db_lost_for_s: float = 60
    no_active_instance_for_s: float = 600
    memory_for_s: float = 300
    error_rate_for_s: float = 300
    unassigned_for_s: float = 600
    flapping_for_s: float = 0


S = TypeVar("S")  # what the rules look at: a FleetSnapshot, or another snapshot type


@dataclass(frozen=True, slots=True)
class AlertRule(Generic[S]):
    """A named condition. `check` returns the subjects it holds for, each with a description."""

    name: str
    severity: AlertSeverity
    summary: str
    for_s: float
    check: Callable[[S], Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One notification to send. Times are the `now_s` values given to `evaluate`."""

    rule: str
    subject: str
    status: AlertStatus
    severity: AlertSeverity
    summary: str
    description: str
    active_since_s: float  # when the condition was first seen holding in this episode
    at_s: float

    @property
    def key(self) -> str:
        """Stable identity of the alert: `Rule` or `Rule/subject`."""
        return f"{self.rule}/{self.subject}" if self.subject else self.rule


def default_rules(
    thresholds: AlertThresholds | None = None,
) -> tuple[AlertRule[FleetSnapshot], ...]:
    """The manual's critical alerts that the orchestrator can see from inside.

    "Orchestrator down" cannot be noticed by the orchestrator itself: it exists only as a
    Prometheus rule (`OrchestratorDown`).
    """
    limits = thresholds or AlertThresholds()

    def external_db(snapshot: FleetSnapshot) -> Mapping[str, str]:
        if snapshot.external_db_up:
            return {}
        return {FLEET_WIDE: "The external PostgreSQL that holds the streams does not answer."}

    def no_active(snapshot: FleetSnapshot) -> Mapping[str, str]:
        if snapshot.active_instances > 0:
            return {}
        return {FLEET_WIDE: "No instance is ACTIVE: no stream is being monitored."}

    def memory(snapshot: FleetSnapshot) -> Mapping[str, str]:
        ratio = snapshot.memory_ratio
        if ratio is None or ratio <= limits.memory_ratio:
            return {}
        return {FLEET_WIDE: f"Orchestrator memory at {ratio:.0%} of its limit."}

    def error_rate(snapshot: FleetSnapshot) -> Mapping[str, str]:
        rate = snapshot.error_rate
        if rate is None or rate <= limits.error_rate:
            return {}
        return {FLEET_WIDE: f"{rate:.1%} of requests to the orchestrator fail."}

    def unassigned(snapshot: FleetSnapshot) -> Mapping[str, str]:
        if snapshot.unassigned_streams <= 0:
            return {}
        count = snapshot.unassigned_streams
        return {FLEET_WIDE: f"{count} stream(s) have no instance: add capacity or instances."}

    def flapping(snapshot: FleetSnapshot) -> Mapping[str, str]:
        window_min = limits.flapping_window_s / 60
        return {
            instance_id: (
                f"Instance {instance_id} went down (INACTIVE) {changes} times in "
                f"{window_min:g} minutes."
            )
            for instance_id, changes in sorted(snapshot.state_changes_by_instance.items())
            if changes > limits.flapping_state_changes
        }

    critical, warning = AlertSeverity.CRITICAL, AlertSeverity.WARNING
    return (
        AlertRule(
            "ExternalDatabaseDown",
            critical,
            "External streams database unreachable",
            limits.external_db_lost_for_s,
            external_db,
        ),
        AlertRule(
            "NoActiveInstance",
            critical,
            "No active FingerV7 instance",
            limits.no_active_instance_for_s,
            no_active,
        ),
        AlertRule(
            "OrchestratorMemoryHigh",
            critical,
            "Orchestrator memory above limit",
            limits.memory_for_s,
            memory,
        ),
        AlertRule(
            "OrchestratorErrorRateHigh",
            critical,
            "Orchestrator error rate high",
            limits.error_rate_for_s,
            error_rate,
        ),
        AlertRule(
            "StreamsUnassigned",
            warning,
            "Streams without an instance",
            limits.unassigned_for_s,
            unassigned,
        ),
        AlertRule(
            "InstanceFlapping", warning, "Instance flapping", limits.flapping_for_s, flapping
        ),
    )


@dataclass(slots=True)
class _AlertState(Generic[S]):
    rule: AlertRule[S]
    description: str = ""
    pending_since_s: float | None = None  # condition holding since (None: not holding)
    firing: bool = False  # held for at least `for_s`
    announced: bool = False  # a FIRING event went out for this episode
    last_announced_s: float | None = None  # across episodes, for the cooldown


class AlertEvaluator(Generic[S]):
    """Turns a stream of snapshots into FIRING/RESOLVED events, de-duplicated and rate-limited.

    Not thread-safe: one monitor loop owns it. `now_s` should be wall-clock seconds (the events'
    times are shown to people); a clock that steps back is treated as standing still.
    """

    def __init__(self, rules: Iterable[AlertRule[S]], *, cooldown_s: float = 900) -> None:
        self._rules = tuple(rules)
        names = [rule.name for rule in self._rules]
        if len(set(names)) != len(names):
            raise ValueError(f"alert rule names must be unique, got {names}")
        if cooldown_s < 0:
            raise ValueError(f"cooldown_s must be >= 0, got {cooldown_s}")
        self._cooldown_s = cooldown_s
        self._states: dict[tuple[str, str], _AlertState[S]] = {}
        self._last_now_s = float("-inf")

    @property
    def rules(self) -> tuple[AlertRule[S], ...]:
        return self._rules

    def evaluate(self, snapshot: S, now_s: float) -> list[AlertEvent]:
        """Apply every rule to `snapshot` and return the notifications due at `now_s`."""
        now_s = max(now_s, self._last_now_s)
        self._last_now_s = now_s
        events: list[AlertEvent] = []
        holding: set[tuple[str, str]] = set()
        for rule in self._rules:
            for subject, description in rule.check(snapshot).items():
                key = (rule.name, subject)
                holding.add(key)
                state = self._states.setdefault(key, _AlertState(rule))
                state.description = description
                event = self._advance_holding(state, subject, now_s)
                if event is not None:
                    events.append(event)
        for key in [key for key in self._states if key not in holding]:
            event = self._advance_cleared(key, now_s)
            if event is not None:
                events.append(event)
        return events

    def firing(self) -> list[AlertEvent]:
        """Alerts firing now (announced or held back by the cooldown), e.g. for the dashboard."""
        return [
            self._event(state, subject, AlertStatus.FIRING, self._last_now_s)
            for (_, subject), state in sorted(self._states.items())
            if state.firing
        ]

    def _advance_holding(
        self, state: _AlertState[S], subject: str, now_s: float
    ) -> AlertEvent | None:
        if state.pending_since_s is None:
            state.pending_since_s = now_s
        if not state.firing and now_s - state.pending_since_s >= state.rule.for_s:
            state.firing = True
        if not state.firing or state.announced or not self._cooled_down(state, now_s):
            return None
        state.announced = True
        state.last_announced_s = now_s
        return self._event(state, subject, AlertStatus.FIRING, now_s)

    def _advance_cleared(self, key: tuple[str, str], now_s: float) -> AlertEvent | None:
        state = self._states[key]
        event = None
        if state.announced:
            event = self._event(state, key[1], AlertStatus.RESOLVED, now_s)
        state.pending_since_s = None
        state.firing = False
        state.announced = False
        if self._cooled_down(state, now_s):
            del self._states[key]  # nothing left to remember: keeps memory bounded
        return event

    def _cooled_down(self, state: _AlertState[S], now_s: float) -> bool:
        last = state.last_announced_s
        return last is None or now_s - last >= self._cooldown_s

    @staticmethod
    def _event(
        state: _AlertState[S], subject: str, status: AlertStatus, now_s: float
    ) -> AlertEvent:
        rule = state.rule
        since = state.pending_since_s if state.pending_since_s is not None else now_s
        return AlertEvent(
            rule=rule.name,
            subject=subject,
            status=status,
            severity=rule.severity,
            summary=rule.summary,
            description=state.description,
            active_since_s=since,
            at_s=now_s,
        )


class StateChangeWindow:
    """Counts each instance's state changes over a sliding window, for `InstanceFlapping`."""

    def __init__(self, window_s: float) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        self._window_s = window_s
        self._changes: deque[tuple[float, str]] = deque()

    def record(self, instance_id: str, now_s: float) -> None:
        self._changes.append((now_s, instance_id))

    def counts(self, now_s: float) -> dict[str, int]:
        """Changes per instance within the last `window_s` seconds; older ones are forgotten."""
        while self._changes and self._changes[0][0] <= now_s - self._window_s:
            self._changes.popleft()
        result: dict[str, int] = {}
        for _, instance_id in self._changes:
            result[instance_id] = result.get(instance_id, 0) + 1
        return result
