"""`plan_assignment(move_away=...)`: quarantine moves, once, into free slots only."""

from __future__ import annotations

from collections import Counter

from fingerv7.core.planning import (
    BalancePolicy,
    BalanceStrategy,
    Change,
    ChangeReason,
    InstanceSpec,
    StreamSpec,
    plan_assignment,
)

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
