"""Property tests: the seven guarantees of docs/assignment.md over random fleets and histories.

`check_every_plan` asserts what holds after *every* round (guarantees 1, 2, 3, 6); the fair
share (4) and the fixed point (5) hold after an uncapped forced rebalance and are checked there;
determinism (7) compares plans of shuffled inputs.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from fingerv7.core.planning import (
    AssignmentPlan,
    BalancePolicy,
    BalanceStrategy,
    ChangeReason,
    InstanceSpec,
    InstanceState,
    StreamSpec,
    UnassignedReason,
    plan_assignment,
)

REGIONS = (None, "norte", "sul")
LIVE_MOSTLY = [InstanceState.ACTIVE] * 5 + list(InstanceState)
FAST = settings(max_examples=150, deadline=None)


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


@dataclass(frozen=True)
class Round:
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


@st.composite
def rounds(draw: st.DrawFn) -> Round:
    instances = draw(fleets())
    return Round(
        streams=draw(source_streams()),
        instances=instances,
        current=draw(mappings(instances)),
        policy=draw(policies),
        seconds=draw(st.none() | st.sampled_from([0.0, 100.0, 1000.0])),
        force=draw(st.booleans()),
    )


def reference_shares(
    instances: Sequence[InstanceSpec], stream_count: int, strategy: BalanceStrategy
) -> dict[str, Fraction]:
    """Exact water-filled shares, computed independently of the planner with fractions."""
    accepting = [i for i in instances if i.accepts_streams]
    score = {i.id: Fraction(round(i.performance_score * 1000), 1000) for i in accepting}
    if strategy is not BalanceStrategy.PERFORMANCE:
        score = dict.fromkeys(score, Fraction(1))
    weight = {i.id: i.max_streams * score[i.id] for i in accepting}
    capacity = {i.id: i.max_streams for i in accepting}
    remaining = Fraction(min(stream_count, sum(capacity.values())))
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


def _expected_reason(
    before: str | None, after: str | None, in_source: bool, specs: Mapping[str, InstanceSpec]
) -> set[ChangeReason]:
    if not in_source:
        return {ChangeReason.REMOVED}
    if after is None:
        return {ChangeReason.NO_CAPACITY}
    if before is None:
        return {ChangeReason.NEW}
    spec = specs.get(before)
    if spec is None or not spec.state.is_live:
        return {ChangeReason.FAILOVER}
    if spec.draining:
        return {ChangeReason.DRAIN}
    return {ChangeReason.OVER_CAPACITY, ChangeReason.REBALANCE}


def check_every_plan(r: Round, plan: AssignmentPlan) -> None:
    """Guarantees 1, 2, 3 and 6: they hold after every round, whatever the policy."""
    specs = {i.id: i for i in r.instances}
    accepting = {i.id for i in r.instances if i.accepts_streams}
    source = {s.id for s in r.streams}
    # 1. Every source stream is assigned to an accepting instance or unassigned, never both.
    assert set(plan.assignment) | set(plan.unassigned) == source
    assert not set(plan.assignment) & set(plan.unassigned)
    assert set(plan.assignment.values()) <= accepting
    # 2. Capacity is respected; streams wait only when every accepting slot is taken.
    planned = Counter(plan.assignment.values())
    assert all(planned[i] <= specs[i].max_streams for i in planned)
    capacity = sum(specs[i].max_streams for i in accepting)
    assert len(plan.assignment) == min(len(source), capacity)
    why = UnassignedReason.NO_CAPACITY if accepting else UnassignedReason.NO_INSTANCES
    assert set(plan.unassigned.values()) <= {why}
    # 3. `changes` is exactly the difference from `current`, in stream order, with its reason.
    touched = sorted(
        s
        for s in source | set(r.current)
        if r.current.get(s) != (plan.assignment.get(s) if s in source else None)
    )
    assert [c.stream_id for c in plan.changes] == touched
    for change in plan.changes:
        assert change.from_instance == r.current.get(change.stream_id)
        assert change.to_instance == plan.assignment.get(change.stream_id)
        in_source = change.stream_id in source
        allowed = _expected_reason(change.from_instance, change.to_instance, in_source, specs)
        assert change.reason in allowed, change
    check_minimal_disruption(r, plan, planned)


def check_minimal_disruption(r: Round, plan: AssignmentPlan, planned: Counter[str]) -> None:
    """Guarantee 6: only what must move moves, toward targets, within the cap."""
    specs = {i.id: i for i in r.instances}
    source = {s.id for s in r.streams}
    held = Counter(r.current[s] for s in source if s in r.current)
    target = {load.instance_id: load.target for load in plan.loads}
    reasons = Counter((c.from_instance, c.reason) for c in plan.changes)
    received = Counter(c.to_instance for c in plan.changes if c.to_instance is not None)
    givers = {c.from_instance for c in plan.changes if c.reason is not ChangeReason.REMOVED}
    for instance_id, spec in specs.items():
        if spec.state.is_live and not spec.draining:
            # Exactly the excess leaves: re-placed (OVER_CAPACITY) or, if no room, unassigned.
            excess = max(0, held[instance_id] - spec.max_streams)
            leaving = (ChangeReason.OVER_CAPACITY, ChangeReason.NO_CAPACITY)
            assert sum(reasons[instance_id, why] for why in leaving) == excess
        # Streams only ever flow into instances that end at or below their target.
        if received[instance_id]:
            assert planned[instance_id] <= target[instance_id]
            assert instance_id not in givers
    rebalance_moves = sum(n for (_, why), n in reasons.items() if why is ChangeReason.REBALANCE)
    assert plan.rebalanced == (rebalance_moves > 0)
    cap = r.policy.max_voluntary_moves
    assert cap is None or rebalance_moves <= cap
    cooled = r.seconds is None or r.seconds >= r.policy.rebalance_cooldown_s
    assert not plan.rebalanced or r.force or cooled
    if plan.rebalanced and cap is None:
        needed = sum(
            max(0, min(held[i], specs[i].max_streams) - target[i])
            for i in specs
            if specs[i].accepts_streams
        )
        assert rebalance_moves == needed
        assert all(planned[i] == target[i] for i in specs if specs[i].accepts_streams)


def check_balanced(r: Round, plan: AssignmentPlan) -> None:
    """Guarantees 4 and 5, which hold after an uncapped forced rebalance."""
    shares = reference_shares(r.instances, len(r.streams), r.policy.strategy)
    planned = Counter(plan.assignment.values())
    for load in plan.loads:
        if load.instance_id in shares:
            assert planned[load.instance_id] == load.target
            assert abs(load.target - shares[load.instance_id]) < 1
            assert load.target <= load.max_streams
    for force, seconds in ((False, 0.0), (False, None), (True, 0.0)):
        again = replace(r, current=plan.assignment, force=force, seconds=seconds).plan()
        assert again.changes == [], again.explanation


@FAST
@given(rounds())
def test_every_plan_keeps_guarantees_1_2_3_6(r: Round) -> None:
    check_every_plan(r, r.plan())


@FAST
@given(rounds())
def test_uncapped_forced_rebalance_reaches_fair_shares_and_a_fixed_point(r: Round) -> None:
    r = replace(r, policy=replace(r.policy, max_voluntary_moves=None), force=True)
    plan = r.plan()
    check_every_plan(r, plan)
    check_balanced(r, plan)


@FAST
@given(rounds(), st.randoms(use_true_random=False))
def test_plans_do_not_depend_on_input_order(r: Round, shuffler: random.Random) -> None:
    streams, instances, items = list(r.streams), list(r.instances), list(r.current.items())
    for sequence in (streams, instances, items):
        shuffler.shuffle(sequence)
    shuffled = replace(r, streams=streams, instances=instances, current=dict(items))
    assert shuffled.plan() == r.plan()


@FAST
@given(fleets(), source_streams())
def test_location_places_as_many_streams_in_their_region_as_targets_allow(
    instances: list[InstanceSpec], streams: list[StreamSpec]
) -> None:
    policy = BalancePolicy(strategy=BalanceStrategy.LOCATION)
    plan = plan_assignment(streams, instances, {}, policy)
    location = {i.id: i.location for i in instances}
    local = sum(
        1 for s in streams if s.region and location.get(plan.assignment.get(s.id, "")) == s.region
    )
    # Which streams get a slot when slots are short does not depend on region (guarantee 2).
    wanted = Counter(s.region for s in streams if s.region and s.id in plan.assignment)
    slots: Counter[str | None] = Counter()
    for load in plan.loads:
        slots[location[load.instance_id]] += load.target
    assert local == sum(min(n, slots[region]) for region, n in wanted.items())
