"""One monitor tick, as a pure function: facts in, decisions out.

The orchestrator's controller loads the fleet (instances with their reports, stream ownership,
the streams to monitor), calls :func:`reconcile_fleet`, and writes the result in one transaction.
Everything that decides anything lives here or in the modules it calls (lifecycle, planning,
handoff), so the rules are testable without a database or a clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fingerv7.core.handoff import Holding, InstanceReport, owners_changed, retarget, settle
from fingerv7.core.lifecycle import InstanceFacts, LifecycleTimeouts, derive_state
from fingerv7.core.planning import plan_assignment
from fingerv7.core.planning.model import (
    AssignmentPlan,
    BalancePolicy,
    Change,
    ChangeReason,
    InstanceId,
    InstanceSpec,
    InstanceState,
    StreamId,
    StreamSpec,
)


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """An instance as stored: its static description plus the facts the lifecycle needs."""

    spec: InstanceSpec
    facts: InstanceFacts
    running: frozenset[StreamId]


@dataclass(frozen=True, slots=True)
class FleetView:
    instances: Sequence[InstanceRecord]
    holdings: Mapping[StreamId, Holding]
    streams: Sequence[StreamSpec]
    generation: int
    seconds_since_last_rebalance: float | None
    rebalance_requested: bool
    # Streams whose URL, name or metadata changed: their owners must be sent a new generation.
    refreshed_streams: frozenset[StreamId] = frozenset()
    # The holdings in the middle of a handoff (holder != target), when the caller tracks them:
    # at 100,000 streams, finding them by scanning every holding costs more than the rest of a
    # tick that changes nothing. None = scan `holdings`.
    handoffs: Mapping[StreamId, Holding] | None = None
    # Streams to take off the named instance (quarantine, decided in core/stream_health.py).
    move_away: Mapping[StreamId, InstanceId] = field(default_factory=dict)


@dataclass(slots=True)
class TickDecision:
    states: dict[InstanceId, InstanceState]
    holdings: dict[StreamId, Holding | None] = field(default_factory=dict)  # None = delete
    changes: list[Change] = field(default_factory=list)
    changed_instances: set[InstanceId] = field(default_factory=set)
    generation: int = 0  # the fleet generation after this tick
    plan: AssignmentPlan | None = None


def derive_states(
    instances: Sequence[InstanceRecord],
    now_s: float,
    timeouts: LifecycleTimeouts,
    grace_start_s: float | None,
) -> dict[InstanceId, InstanceState]:
    return {
        record.spec.id: derive_state(record.facts, now_s, timeouts, grace_start_s)
        for record in instances
    }


def pending_handoffs(view: FleetView) -> Mapping[StreamId, Holding]:
    if view.handoffs is not None:
        return view.handoffs
    return {s: h for s, h in view.holdings.items() if h.holder != h.target}


def _released_is_not_failover(changes: list[Change], view: FleetView) -> list[Change]:
    """A deregistered instance (a clean SIGTERM hand-back, or an operator's DELETE) did not
    fail: its streams move with reason `released`, not `failover`."""
    left = {r.spec.id for r in view.instances if r.facts.deregistered}
    if not left:
        return changes
    return [
        c._replace(reason=ChangeReason.RELEASED)
        if c.reason is ChangeReason.FAILOVER and c.from_instance in left
        else c
        for c in changes
    ]


def reconcile_fleet(
    view: FleetView,
    states: Mapping[InstanceId, InstanceState],
    policy: BalancePolicy,
    *,
    replan: bool = True,
) -> TickDecision:
    """Plan (when `replan`), retarget changed streams, and settle handoffs whose holder let go."""
    decision = TickDecision(states=dict(states), generation=view.generation)
    next_generation = view.generation + 1
    live = {i for i, state in states.items() if state.is_live}
    specs = [
        InstanceSpec(
            id=r.spec.id,
            max_streams=r.spec.max_streams,
            state=states[r.spec.id],
            draining=r.spec.draining,
            location=r.spec.location,
            performance_score=r.spec.performance_score,
        )
        for r in view.instances
        if states[r.spec.id] is not InstanceState.REMOVED
    ]
    updated: dict[StreamId, Holding | None] = {}
    if replan:
        current = {s: h.target for s, h in view.holdings.items() if h.target is not None}
        holding_instances = set(current.values())
        joined = any(spec.accepts_streams and spec.id not in holding_instances for spec in specs)
        plan = plan_assignment(
            view.streams,
            specs,
            current,
            policy,
            # A new or recovered instance with nothing is worth a rebalance now, cooldown or not.
            seconds_since_last_rebalance=None if joined else view.seconds_since_last_rebalance,
            force_rebalance=view.rebalance_requested,
            move_away=view.move_away,
        )
        decision.plan = plan
        decision.changes = _released_is_not_failover(plan.changes, view)
        for change in plan.changes:
            holding = view.holdings.get(change.stream_id) or Holding(change.stream_id, None, None)
            holder_live = holding.holder in live
            updated[change.stream_id] = retarget(
                holding, change.to_instance, holder_live, next_generation
            )

    reports = {
        r.spec.id: InstanceReport(
            live=r.spec.id in live,
            applied_generation=r.facts.applied_generation,
            running=r.running,
        )
        for r in view.instances
    }
    for stream_id, holding in pending_handoffs(view).items():
        if stream_id not in updated:
            updated[stream_id] = holding
    for stream_id, pending in list(updated.items()):
        if pending is not None:
            updated[stream_id] = settle(pending, reports)

    before = [view.holdings.get(s) for s in updated]
    decision.changed_instances = owners_changed(before, updated.values())
    for stream_id in view.refreshed_streams:
        refreshed = updated[stream_id] if stream_id in updated else view.holdings.get(stream_id)
        if refreshed is not None and refreshed.owner is not None:
            decision.changed_instances.add(refreshed.owner)
    decision.holdings = {s: h for s, h in updated.items() if h != view.holdings.get(s)}
    if decision.changed_instances or decision.holdings:
        decision.generation = next_generation
    return decision
