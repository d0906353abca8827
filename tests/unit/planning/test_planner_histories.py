"""Guarantees over histories: instances die, join, drain and resize, streams come and go, time
passes, and every round starts from the previous round's plan.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace

from hypothesis import given, settings
from hypothesis import strategies as st
from test_planner_properties import (
    REGIONS,
    Round,
    check_balanced,
    check_every_plan,
    fleets,
    policies,
)

from fingerv7.core.planning import BalancePolicy, InstanceSpec, InstanceState, StreamSpec

KINDS = ("tick", "kill", "revive", "drain", "resize", "join", "add", "remove", "operator")


@dataclass(frozen=True)
class Event:
    kind: str
    index: int  # which instance (modulo the fleet size) or how many streams
    value: int  # seconds for "tick", capacity for "resize" and "join"


events = st.builds(
    Event, st.sampled_from(KINDS), st.integers(0, 12), st.sampled_from([0, 3, 10, 100, 400])
)


@dataclass
class History:
    instances: list[InstanceSpec]
    streams: list[StreamSpec]
    current: dict[int, str]
    since_rebalance_s: float | None = None
    next_stream: int = 0

    def apply(self, event: Event) -> bool:
        """Change the world; True when the operator asks for a rebalance this round."""
        if event.kind == "tick":
            if self.since_rebalance_s is not None:
                self.since_rebalance_s += event.value
        elif event.kind in ("kill", "revive", "drain", "resize") and self.instances:
            n = event.index % len(self.instances)
            self.instances[n] = _changed(self.instances[n], event)
        elif event.kind == "join":
            name = f"joined-{len(self.instances)}"
            spec = InstanceSpec(name, event.value, InstanceState.REGISTERED, location="sul")
            self.instances.append(spec)
        elif event.kind == "add":
            region = REGIONS[event.index % len(REGIONS)]
            fresh = range(self.next_stream, self.next_stream + event.index)
            self.streams.extend(StreamSpec(i, region) for i in fresh)
            self.next_stream += event.index
        elif event.kind == "remove":
            del self.streams[: event.index]
        return event.kind == "operator"


def _changed(spec: InstanceSpec, event: Event) -> InstanceSpec:
    if event.kind == "kill":
        return replace(spec, state=InstanceState.INACTIVE)
    if event.kind == "revive":
        return replace(spec, state=InstanceState.RECOVERING)
    if event.kind == "drain":
        return replace(spec, draining=not spec.draining)
    return replace(spec, max_streams=event.value)


@settings(max_examples=200, deadline=None)
@given(fleets(max_instances=4), st.lists(events, max_size=12), policies, st.integers(0, 30))
def test_histories_keep_every_guarantee(
    instances: list[InstanceSpec], history: list[Event], policy: BalancePolicy, stream_count: int
) -> None:
    world = History(list(instances), [], {})
    world.apply(Event("add", stream_count, 0))
    for event in history:
        force = world.apply(event)
        r = Round(
            list(world.streams),
            list(world.instances),
            dict(world.current),
            policy,
            world.since_rebalance_s,
            force,
        )
        plan = r.plan()
        check_every_plan(r, plan)
        world.current = plan.assignment
        if plan.rebalanced:
            world.since_rebalance_s = 0.0

    # Forced rounds under a move cap reach the fair shares: after the first round moves the
    # forced streams, ceil(excess / cap) more rounds finish the job and the next changes nothing.
    r = Round(world.streams, world.instances, world.current, policy, 0.0, True)
    plan = r.plan()
    cap = policy.max_voluntary_moves
    if cap == 0:
        assert plan.moves == []
        return
    planned = Counter(plan.assignment.values())
    excess = sum(max(0, planned[load.instance_id] - load.target) for load in plan.loads)
    for _ in range(1 + (math.ceil(excess / cap) if cap else 0)):
        check_every_plan(r, plan)
        r = replace(r, current=plan.assignment)
        plan = r.plan()
    assert plan.changes == []
    check_balanced(replace(r, policy=replace(policy, max_voluntary_moves=None)), plan)
