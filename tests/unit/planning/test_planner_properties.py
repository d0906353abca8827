"""Hypothesis property tests: guarantees 1-7 of issue 2 (docs/assignment.md, "Guarantees").

Every test draws a *history*: a random fleet (all instance states, draining, zero capacity),
a random current mapping (streams on unknown instances, streams no longer in the source), a
random policy, then a sequence of events (instances die, are removed, forgotten, recover, join,
drain, resize; streams come and go; time passes; the operator asks for a rebalance). Each round
plans from the previous round's answer, and the guarantee is checked after every round, so each
test covers random fleets (round one) and random histories (the rounds after it).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from fingerv7.core.planning import (
    AssignmentPlan,
    BalancePolicy,
    BalanceStrategy,
    ChangeReason,
    InstanceSpec,
    StreamSpec,
    UnassignedReason,
    plan_assignment,
)
from tests.unit.planning.support import (
    EXAMPLES,
    History,
    Round,
    accepting,
    at_targets,
    fleets,
    held,
    histories,
    least_possible_bound,
    moved_streams,
    movement_lower_bound,
    planned,
    reference_shares,
    rounds,
    source_streams,
    targets,
)


def _expected_reasons(
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


# ---- the guarantees ----------------------------------------------------------------------


@EXAMPLES
@given(histories())
def test_guarantee_1_a_stream_is_assigned_to_at_most_one_instance(history: History) -> None:
    for r, plan in rounds(history):
        specs = {i.id: i for i in r.instances}
        source = {s.id for s in r.streams}
        assert set(plan.assignment) <= source
        assert not set(plan.assignment) & set(plan.unassigned)
        # `changes` (what the orchestrator applies) names each stream once and, applied to
        # `current`, gives exactly `assignment`: no stream can end up on two instances.
        ids = [c.stream_id for c in plan.changes]
        assert ids == sorted(set(ids)) and plan.change_count == len(ids)
        applied = {s: i for s, i in r.current.items() if s in source}
        for change in plan.changes:
            assert change.from_instance == r.current.get(change.stream_id)
            applied.pop(change.stream_id, None)
            if change.to_instance is not None:
                applied[change.stream_id] = change.to_instance
            expected = _expected_reasons(
                change.from_instance, change.to_instance, change.stream_id in source, specs
            )
            assert change.reason in expected, change
        assert applied == plan.assignment


@EXAMPLES
@given(histories())
def test_guarantee_2_capacity_and_no_streams_on_draining_inactive_or_removed(
    history: History,
) -> None:
    for r, plan in rounds(history):
        specs = {i.id: i for i in r.instances}
        fleet = accepting(r)
        for instance_id, count in planned(plan).items():
            assert instance_id in fleet, f"{instance_id} does not accept streams"
            assert count <= specs[instance_id].max_streams
        refused = {i.id for i in r.instances if i.state.is_live is False or i.draining}
        assert not refused & {c.to_instance for c in plan.changes}
        for load in plan.loads:
            assert load.planned <= load.max_streams
            if load.instance_id not in fleet:
                assert load.planned == load.target == 0


@EXAMPLES
@given(histories())
def test_guarantee_3_all_assigned_when_capacity_suffices_else_exactly_capacity(
    history: History,
) -> None:
    for r, plan in rounds(history):
        source = {s.id for s in r.streams}
        capacity = sum(i.max_streams for i in accepting(r).values())
        if capacity >= len(source):
            assert set(plan.assignment) == source and plan.unassigned == {}
        else:
            assert len(plan.assignment) == capacity
            # The rest is reported, never silently dropped.
            assert set(plan.unassigned) == source - set(plan.assignment)
            why = UnassignedReason.NO_CAPACITY if capacity else UnassignedReason.NO_INSTANCES
            assert set(plan.unassigned.values()) == {why}


@EXAMPLES
@given(histories())
def test_guarantee_4_each_instance_within_one_of_its_proportional_share(
    history: History,
) -> None:
    for r, plan in rounds(history):
        shares, goal, ends = reference_shares(r), targets(plan), planned(plan)
        for instance_id, share in shares.items():
            assert abs(goal[instance_id] - share) < 1
        cooled = r.force or r.seconds is None or r.seconds >= r.policy.rebalance_cooldown_s
        if r.uncapped and cooled and not at_targets(r, plan):
            # Hysteresis: no voluntary rebalance because the fleet is inside the band.
            assert not r.force and not plan.rebalanced
            assert plan.imbalance_after <= r.policy.imbalance_threshold
            assert all(
                abs(ends[i] - goal[i]) <= r.policy.max_stream_difference for i in accepting(r)
            )
        # A forced, uncapped rebalance of the same inputs ends within one of every share.
        forced = replace(r, force=True, policy=replace(r.policy, max_voluntary_moves=None))
        forced_plan = forced.plan()
        ends = planned(forced_plan)
        assert all(abs(ends[i] - share) < 1 for i, share in shares.items())


def check_minimal_movement(r: Round, plan: AssignmentPlan) -> None:
    goal, before, after = targets(plan), held(r), planned(plan)
    moves = moved_streams(r, plan)
    assert len(moves) <= movement_lower_bound(r, plan)
    if at_targets(r, plan):
        assert len(moves) == movement_lower_bound(r, plan)
    for _, origin, destination in moves:
        # Only an instance above its target gives a stream up ...
        assert before[origin] > goal[origin]
        # ... and only to one that ends at or under its target.
        assert destination is None or after[destination] <= goal[destination]
    for change in plan.changes:
        if change.to_instance is not None:
            assert after[change.to_instance] <= goal[change.to_instance]
    voluntary = [c for c in plan.changes if c.reason is ChangeReason.REBALANCE]
    cap = r.policy.max_voluntary_moves
    assert cap is None or len(voluntary) <= cap
    assert plan.rebalanced == bool(voluntary)
    if not plan.rebalanced:
        # No voluntary rebalance: the only moves are each instance's excess over max_streams.
        excess = Counter(
            {
                i.id: before[i.id] - i.max_streams
                for i in r.instances
                if i.state.is_live and not i.draining and before[i.id] > i.max_streams
            }
        )
        assert Counter(origin for _, origin, _ in moves) == excess


@EXAMPLES
@given(histories())
def test_guarantee_5_minimal_movement_equals_the_lower_bound(history: History) -> None:
    for r, plan in rounds(history):
        check_minimal_movement(r, plan)
        # The targets themselves are the rounding of the shares that needs the fewest moves.
        assert movement_lower_bound(r, plan) == least_possible_bound(r)
        # In a forced, uncapped rebalance the bound is met exactly.
        forced = replace(r, force=True, policy=replace(r.policy, max_voluntary_moves=None))
        forced_plan = forced.plan()
        assert at_targets(forced, forced_plan)
        assert len(moved_streams(forced, forced_plan)) == movement_lower_bound(forced, forced_plan)
        check_minimal_movement(forced, forced_plan)


@EXAMPLES
@given(histories())
def test_guarantee_6_planning_again_on_the_result_moves_nothing(history: History) -> None:
    for r, plan in rounds(history):
        voluntary = sum(c.reason is ChangeReason.REBALANCE for c in plan.changes)
        cap_reached = not r.uncapped and voluntary == r.policy.max_voluntary_moves
        seconds = 0.0 if plan.rebalanced else r.seconds
        again = replace(r, current=plan.assignment, seconds=seconds).plan()
        if not cap_reached:
            assert again.changes == [], again.explanation
            assert again.assignment == plan.assignment
        if at_targets(r, plan):
            # At its targets the plan is a fixed point whatever the clock or the operator says.
            for force, since in ((False, None), (True, 0.0), (False, 0.0)):
                later = replace(r, current=plan.assignment, seconds=since, force=force)
                assert later.plan().changes == []


@EXAMPLES
@given(histories(max_events=4), st.randoms(use_true_random=False))
def test_guarantee_7_the_same_input_gives_the_same_output(
    history: History, shuffler: random.Random
) -> None:
    for r, plan in rounds(history):
        streams, instances, items = list(r.streams), list(r.instances), list(r.current.items())
        for sequence in (streams, instances, items):
            shuffler.shuffle(sequence)
        shuffled = replace(r, streams=streams, instances=instances, current=dict(items))
        again = shuffled.plan()
        assert again == plan
        assert list(again.assignment.items()) == list(plan.assignment.items())
        assert list(again.unassigned.items()) == list(plan.unassigned.items())


@EXAMPLES
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
    # Which streams get a slot when slots are short does not depend on region (guarantee 3).
    wanted = Counter(s.region for s in streams if s.region and s.id in plan.assignment)
    slots: Counter[str | None] = Counter()
    for load in plan.loads:
        slots[location[load.instance_id]] += load.target
    assert local == sum(min(n, slots[region]) for region, n in wanted.items())


@EXAMPLES
@given(histories(max_events=3), st.sampled_from([-(10**15), 10**12]))
def test_sparse_and_negative_stream_ids_plan_like_dense_ones(history: History, scale: int) -> None:
    """Dense ids take a lookup table, sparse ones a binary search: the plans must agree."""

    def spread(stream_id: int) -> int:
        return stream_id * abs(scale) + scale  # order-preserving, far apart, maybe negative

    for r, plan in rounds(history):
        sparse = replace(
            r,
            streams=[replace(s, id=spread(s.id)) for s in r.streams],
            current={spread(s): i for s, i in r.current.items()},
        ).plan()
        assert sparse.assignment == {spread(s): i for s, i in plan.assignment.items()}
        assert [c.stream_id for c in sparse.changes] == [spread(c.stream_id) for c in plan.changes]
        assert sparse.loads == plan.loads
