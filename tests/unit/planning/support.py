"""Random fleets, policies and event histories for the planner's property tests.

Shared by test_planner_properties.py and test_planner_histories.py: a history is replayed
round by round (each round plans from the previous answer) with the helpers that judge a round.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

from hypothesis import settings
from hypothesis import strategies as st

from fingerv7.core.planning import (
    AssignmentPlan,
    BalancePolicy,
    BalanceStrategy,
    InstanceSpec,
    InstanceState,
    StreamSpec,
    plan_assignment,
)

REGIONS = (None, "norte", "sul")
LIVE_MOSTLY = [InstanceState.ACTIVE] * 5 + list(InstanceState)
EXAMPLES = settings(max_examples=120, deadline=None)


@st.composite
def fleets(draw: st.DrawFn, max_instances: int = 6) -> list[InstanceSpec]:
    count = draw(st.integers(0, max_instances))
    return [
        InstanceSpec(
            id=f"i{n}",
            max_streams=draw(st.integers(0, 12)),
            state=draw(st.sampled_from(LIVE_MOSTLY)),
            draining=draw(st.sampled_from([False] * 5 + [True])),
            location=draw(st.sampled_from(REGIONS)),
            # Thousandths inside the clip range, so the reference weight below is exact.
            performance_score=draw(st.integers(100, 10_000)) / 1000,
        )
        for n in range(count)
    ]


@st.composite
def source_streams(draw: st.DrawFn) -> list[StreamSpec]:
    ids = draw(st.sets(st.integers(0, 50), max_size=45))
    return [StreamSpec(i, region=draw(st.sampled_from(REGIONS))) for i in sorted(ids)]


def mappings(instances: Sequence[InstanceSpec]) -> st.SearchStrategy[dict[int, str]]:
    holders = [i.id for i in instances] + ["ghost"]
    return st.dictionaries(st.integers(0, 60), st.sampled_from(holders), max_size=50)


policies = st.builds(
    BalancePolicy,
    strategy=st.sampled_from(BalanceStrategy),
    imbalance_threshold=st.sampled_from([0.0, 0.15, 0.5]),
    max_stream_difference=st.integers(0, 4),
    rebalance_cooldown_s=st.sampled_from([0.0, 300.0]),
    max_voluntary_moves=st.none() | st.integers(0, 5),
)

KINDS = (
    "tick", "kill", "remove", "forget", "revive", "drain", "resize", "join",
    "add_streams", "drop_streams", "operator",
)  # fmt: skip


@dataclass(frozen=True)
class Event:
    kind: str
    index: int  # which instance (modulo the fleet size) or how many streams
    value: int  # seconds for "tick", capacity for "resize" and "join"


events = st.builds(
    Event, st.sampled_from(KINDS), st.integers(0, 12), st.sampled_from([0, 3, 10, 100, 400])
)


@dataclass(frozen=True)
class Round:
    """The inputs of one call to `plan_assignment`."""

    streams: list[StreamSpec]
    instances: list[InstanceSpec]
    current: dict[int, str]
    policy: BalancePolicy
    seconds: float | None
    force: bool

    def plan(self) -> AssignmentPlan:
        return plan_assignment(
            self.streams,
            self.instances,
            self.current,
            self.policy,
            seconds_since_last_rebalance=self.seconds,
            force_rebalance=self.force,
        )

    @property
    def uncapped(self) -> bool:
        return self.policy.max_voluntary_moves is None


@dataclass(frozen=True)
class History:
    instances: list[InstanceSpec]
    streams: list[StreamSpec]
    current: dict[int, str]
    policy: BalancePolicy
    seconds: float | None
    events: list[Event] = field(default_factory=list)


@st.composite
def histories(draw: st.DrawFn, max_events: int = 8) -> History:
    instances = draw(fleets())
    return History(
        instances=instances,
        streams=draw(source_streams()),
        current=draw(mappings(instances)),
        policy=draw(policies),
        seconds=draw(st.none() | st.sampled_from([0.0, 100.0, 1000.0])),
        events=draw(st.lists(events, max_size=max_events)),
    )


def _changed(spec: InstanceSpec, event: Event) -> InstanceSpec:
    if event.kind == "kill":
        return replace(spec, state=InstanceState.INACTIVE)
    if event.kind == "remove":
        return replace(spec, state=InstanceState.REMOVED)
    if event.kind == "revive":
        return replace(spec, state=InstanceState.RECOVERING)
    if event.kind == "drain":
        return replace(spec, draining=not spec.draining)
    return replace(spec, max_streams=event.value % 13)


def rounds(history: History) -> Iterator[tuple[Round, AssignmentPlan]]:
    """Play the history: round one plans the drawn state, each event then starts a round."""
    instances, streams = list(history.instances), list(history.streams)
    current, seconds = dict(history.current), history.seconds
    next_stream = 100
    for event in [Event("tick", 0, 0), *history.events]:
        n = event.index % len(instances) if instances else 0
        if event.kind == "tick" and seconds is not None:
            seconds += event.value
        elif event.kind in ("kill", "remove", "revive", "drain", "resize") and instances:
            instances[n] = _changed(instances[n], event)
        elif event.kind == "forget" and instances:
            del instances[n]
        elif event.kind == "join":
            spec = InstanceSpec(f"joined-{next_stream}", event.value % 13, location="sul")
            instances.append(replace(spec, state=InstanceState.REGISTERED))
        elif event.kind == "add_streams":
            region = REGIONS[event.index % len(REGIONS)]
            streams += [StreamSpec(next_stream + i, region) for i in range(event.index)]
        elif event.kind == "drop_streams":
            del streams[: event.index]
        next_stream += 20
        r = Round(
            list(streams),
            list(instances),
            current,
            history.policy,
            seconds,
            event.kind == "operator",
        )
        plan = r.plan()
        yield r, plan
        current = plan.assignment
        if plan.rebalanced:
            seconds = 0.0


# ---- what the checks compare against, computed independently of the planner -------------


def accepting(r: Round) -> dict[str, InstanceSpec]:
    return {i.id: i for i in r.instances if i.state.is_live and not i.draining and i.max_streams}


def held(r: Round) -> Counter[str]:
    """Source streams each instance holds before the round."""
    return Counter(r.current[s.id] for s in r.streams if s.id in r.current)


def planned(plan: AssignmentPlan) -> Counter[str]:
    return Counter(plan.assignment.values())


def targets(plan: AssignmentPlan) -> dict[str, int]:
    return {load.instance_id: load.target for load in plan.loads}


def at_targets(r: Round, plan: AssignmentPlan) -> bool:
    goal, ends = targets(plan), planned(plan)
    return all(ends[i] == goal[i] for i in accepting(r))


def reference_shares(r: Round) -> dict[str, Fraction]:
    """Exact shares: proportional to the weight, water-filled so none exceeds max_streams."""
    fleet = accepting(r)
    score = {i: Fraction(round(s.performance_score * 1000), 1000) for i, s in fleet.items()}
    if r.policy.strategy is not BalanceStrategy.PERFORMANCE:
        score = dict.fromkeys(score, Fraction(1))
    weight = {i: s.max_streams * score[i] for i, s in fleet.items()}
    capacity = {i: s.max_streams for i, s in fleet.items()}
    remaining = Fraction(min(len(r.streams), sum(capacity.values())))
    shares: dict[str, Fraction] = {}
    sharing = set(capacity)
    while sharing:
        level = remaining / sum(weight[i] for i in sharing)
        full = {i for i in sharing if level * weight[i] >= capacity[i]}
        if not full:
            shares.update({i: level * weight[i] for i in sharing})
            break
        for i in full:
            shares[i] = Fraction(capacity[i])
            remaining -= capacity[i]
        sharing -= full
    return shares


def moved_streams(r: Round, plan: AssignmentPlan) -> list[tuple[int, str, str | None]]:
    """Guarantee 5's moves: source streams leaving a live, non-draining instance."""
    specs = {i.id: i for i in r.instances}
    source = {s.id for s in r.streams}
    return [
        (c.stream_id, c.from_instance, c.to_instance)
        for c in plan.changes
        if c.stream_id in source
        and c.from_instance in specs
        and specs[c.from_instance].state.is_live
        and not specs[c.from_instance].draining
    ]


def movement_lower_bound(r: Round, plan: AssignmentPlan) -> int:
    """sum over live instances of max(0, current_i - target_i); draining ones count as dead."""
    goal, now = targets(plan), held(r)
    live = [i.id for i in r.instances if i.state.is_live and not i.draining]
    return sum(max(0, now[i] - goal[i]) for i in live)


def least_possible_bound(r: Round) -> int:
    """The smallest movement_lower_bound over every choice of targets that guarantee 4 allows
    (each share rounded down or up, summing to the streams placed): rounding up an instance
    that holds more than its floor saves one move, so do that for as many as possible."""
    shares, now = reference_shares(r), held(r)
    floors = {i: math.floor(share) for i, share in shares.items()}
    live = [i.id for i in r.instances if i.state.is_live and not i.draining]
    base = sum(max(0, now[i] - floors.get(i, 0)) for i in live)
    round_up = sum(shares.values()) - sum(floors.values())
    above_floor = sum(1 for i, share in shares.items() if share != floors[i] < now[i])
    return base - min(int(round_up), above_floor)
