"""`plan_assignment(move_away=...)`: quarantine moves, once, into free slots only."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from fingerv7.core.planning import (
    BalancePolicy,
    BalanceStrategy,
    Change,
    ChangeReason,
    InstanceSpec,
    StreamSpec,
    plan_assignment,
)
from tests.unit.planning.support import EXAMPLES, fleets, mappings, policies, source_streams

STREAMS = [StreamSpec(i) for i in range(1, 5)]
CURRENT = {1: "a", 2: "a", 3: "b", 4: "b"}
STEADY = BalancePolicy(max_stream_difference=99, imbalance_threshold=1)  # no voluntary moves


def test_a_stream_leaves_the_named_instance_for_the_one_with_most_room() -> None:
    fleet = [InstanceSpec("a", 5), InstanceSpec("b", 5), InstanceSpec("c", 3)]
    current = CURRENT | {5: "c"}
    streams = [*STREAMS, StreamSpec(5)]
    plan = plan_assignment(streams, fleet, current, move_away={1: "a"})
    assert plan.changes == [Change(1, "a", "b", ChangeReason.QUARANTINE)]
    assert any("quarantine: 1 streams moved" in line for line in plan.explanation)


def test_a_request_already_carried_out_changes_nothing() -> None:
    fleet = [InstanceSpec("a", 5), InstanceSpec("b", 5)]
    moved = CURRENT | {1: "b"}
    plan = plan_assignment(STREAMS, fleet, moved, STEADY, move_away={1: "a"})
    assert plan.changes == []
    # Unknown streams and instances are ignored too.
    unknown = {99: "a", 3: "zz"}
    assert plan_assignment(STREAMS, fleet, CURRENT, STEADY, move_away=unknown).changes == []


def test_no_free_slot_elsewhere_means_the_stream_stays_and_the_plan_says_so() -> None:
    fleet = [InstanceSpec("a", 2), InstanceSpec("b", 2)]
    plan = plan_assignment(STREAMS, fleet, CURRENT, move_away={1: "a"})
    assert plan.changes == []
    assert any("no other instance has a free slot" in line for line in plan.explanation)


def test_a_stream_moving_anyway_keeps_its_own_reason() -> None:
    fleet = [InstanceSpec("a", 5, draining=True), InstanceSpec("b", 5)]
    plan = plan_assignment(STREAMS, fleet, CURRENT, move_away={1: "a"})
    assert Counter(c.reason for c in plan.changes) == {ChangeReason.DRAIN: 2}


def test_only_accepting_instances_receive_and_regions_are_preferred() -> None:
    streams = [StreamSpec(1, region="sul"), StreamSpec(2), StreamSpec(3)]
    fleet = [
        InstanceSpec("a", 5, location="sul"),
        InstanceSpec("b", 9, location="norte"),
        InstanceSpec("c", 5, location="sul"),
        InstanceSpec("d", 9, draining=True),
    ]
    current = {1: "a", 2: "b", 3: "c"}
    location = BalancePolicy(strategy=BalanceStrategy.LOCATION, max_stream_difference=99)
    plan = plan_assignment(streams, fleet, current, location, move_away={1: "a"})
    assert plan.changes == [Change(1, "a", "c", ChangeReason.QUARANTINE)]
    capacity = BalancePolicy(max_stream_difference=99)
    plan = plan_assignment(streams, fleet, current, capacity, move_away={1: "a"})
    assert plan.changes == [Change(1, "a", "b", ChangeReason.QUARANTINE)]


def test_a_rebalance_does_not_send_a_quarantined_stream_back() -> None:
    fleet = [InstanceSpec("a", 5), InstanceSpec("b", 5)]
    current = {1: "b", 2: "b", 3: "b", 4: "a"}  # 3 was moved off "a" by a quarantine
    plan = plan_assignment(STREAMS, fleet, current, move_away={3: "a"})
    assert plan.changes == [Change(2, "b", "a", ChangeReason.REBALANCE)]
    # Without the request the highest id leaves, as always.
    assert plan_assignment(STREAMS, fleet, current).changes == [
        Change(3, "b", "a", ChangeReason.REBALANCE)
    ]


@st.composite
def rounds_with_requests(draw: st.DrawFn) -> tuple[object, ...]:
    instances = draw(fleets())
    current = draw(mappings(instances))
    holders = [i.id for i in instances] + ["ghost"]
    move_away = draw(st.dictionaries(st.integers(0, 60), st.sampled_from(holders), max_size=20))
    return draw(source_streams()), instances, current, draw(policies), move_away


@EXAMPLES
@given(rounds_with_requests())
def test_quarantine_moves_only_into_free_slots_of_other_instances(case: tuple[Any, ...]) -> None:
    streams, instances, current, policy, move_away = case
    plain = plan_assignment(streams, instances, current, policy)
    plan = plan_assignment(streams, instances, current, policy, move_away=move_away)
    specs = {i.id: i for i in instances}
    quarantined = [c for c in plan.changes if c.reason is ChangeReason.QUARANTINE]
    for change in quarantined:
        assert change.from_instance == move_away[change.stream_id] == current[change.stream_id]
        assert change.to_instance != change.from_instance
        assert specs[change.to_instance].accepts_streams
    # Same counts as without the requests, but for the quarantine moves themselves...
    expected = Counter(plain.assignment.values())
    for change in quarantined:
        assert change.from_instance is not None and change.to_instance is not None
        expected[change.from_instance] -= 1
        expected[change.to_instance] += 1
    assert +expected == Counter(plan.assignment.values())
    assert len(plan.changes) - len(quarantined) == len(plain.changes)
    # ...and never past an instance's capacity.
    for instance_id, count in Counter(plan.assignment.values()).items():
        assert count <= specs[instance_id].max_streams
