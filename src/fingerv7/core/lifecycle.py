"""Instance lifecycle (manual §7), derived from facts: when it was last seen and what it applied.

REGISTERED -> ACTIVE -> WARNING -> INACTIVE -> RECOVERING -> ACTIVE, and REMOVED for instances
that deregistered or stayed silent past the removal timeout. The state is a pure function of the
facts, so every orchestrator process derives the same state from the same rows (level-triggered:
a missed transition is simply computed again on the next tick).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fingerv7.core.planning.model import InstanceState


@dataclass(frozen=True, slots=True)
class LifecycleTimeouts:
    """Seconds of silence after which an instance is warned about, declared dead, then forgotten."""

    warning_s: float
    inactive_s: float
    removal_s: float


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    """What the orchestrator knows about one instance at time `now_s` (any monotonic epoch)."""

    state: InstanceState  # the state derived last time
    last_seen_s: float  # last registration or heartbeat
    has_heartbeat: bool  # at least one heartbeat since (re)registering
    applied_generation: int  # generation the instance reported as applied
    assigned_generation: int  # generation of its current desired set
    deregistered: bool = False


def silence_s(last_seen_s: float, now_s: float, grace_start_s: float | None) -> float:
    """Seconds of silence, counted from no earlier than `grace_start_s`.

    After the orchestrator itself restarts, instances had no one to talk to: silence is counted
    from the restart, which gives each of them one full timeout to beat before it is declared dead.
    """
    since_s = last_seen_s if grace_start_s is None else max(last_seen_s, grace_start_s)
    return max(0.0, now_s - since_s)


def derive_state(
    facts: InstanceFacts,
    now_s: float,
    timeouts: LifecycleTimeouts,
    grace_start_s: float | None = None,
) -> InstanceState:
    """The state an instance is in now. Pure; called for every instance on every monitor tick."""
    if facts.deregistered:
        return InstanceState.REMOVED
    silent_s = silence_s(facts.last_seen_s, now_s, grace_start_s)
    if silent_s > timeouts.removal_s:
        return InstanceState.REMOVED
    if silent_s > timeouts.inactive_s:
        return InstanceState.INACTIVE
    if facts.state in (InstanceState.INACTIVE, InstanceState.REMOVED):
        return InstanceState.RECOVERING
    if facts.state is InstanceState.RECOVERING:
        caught_up = facts.has_heartbeat and facts.applied_generation >= facts.assigned_generation
        return InstanceState.ACTIVE if caught_up else InstanceState.RECOVERING
    if not facts.has_heartbeat:
        return InstanceState.REGISTERED
    if silent_s > timeouts.warning_s:
        return InstanceState.WARNING
    return InstanceState.ACTIVE


def next_transition_s(
    fleet: Iterable[InstanceFacts],
    now_s: float,
    timeouts: LifecycleTimeouts,
    grace_start_s: float | None = None,
) -> float | None:
    """The earliest moment, from `now_s` on, after which silence alone changes some instance's
    state. A silence exactly at a limit has not crossed it (`derive_state` asks for more), so a
    limit reached at `now_s` itself is due now: it is crossed the moment after.

    Until then, with no new report, :func:`derive_state` answers the same for every instance:
    a report only moves `last_seen_s` later, which only delays these moments. So the monitor
    may sleep until then (or until a report or an operator wakes it) instead of re-reading the
    whole fleet every second, and still declares a silent instance dead on time. None when no
    instance can change by silence (all removed).
    """
    earliest: float | None = None
    limits = sorted((timeouts.warning_s, timeouts.inactive_s, timeouts.removal_s))
    for facts in fleet:
        if facts.deregistered:
            continue
        since_s = (
            facts.last_seen_s if grace_start_s is None else max(facts.last_seen_s, grace_start_s)
        )
        due_s = next((since_s + limit for limit in limits if since_s + limit >= now_s), None)
        if due_s is not None and (earliest is None or due_s < earliest):
            earliest = due_s
    return earliest
