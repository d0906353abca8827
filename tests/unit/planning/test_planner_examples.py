"""The manual's worked examples and one test per rule of `plan_assignment`."""

from __future__ import annotations

from collections import Counter

import pytest

from fingerv7.core.planning import (
    AssignmentPlan,
    BalancePolicy,
    BalanceStrategy,
    Change,
    ChangeReason,
    InstanceSpec,
    InstanceState,
    StreamSpec,
    UnassignedReason,
    format_balance_report,
    plan_assignment,
)


def _streams(count: int) -> list[StreamSpec]:
    return [StreamSpec(i) for i in range(count)]


def _fleet(*capacities: int) -> list[InstanceSpec]:
    return [InstanceSpec(f"fingerv7-00{n}", c) for n, c in enumerate(capacities, start=1)]


def _held(**counts: int) -> dict[int, str]:
    """Current mapping with consecutive stream ids: _held(a=2, b=1) -> {0: a, 1: a, 2: b}."""
    mapping: dict[int, str] = {}
    for name, count in counts.items():
        start = len(mapping)
        mapping.update(dict.fromkeys(range(start, start + count), name.replace("_", "-")))
    return mapping


def _per_instance(plan: AssignmentPlan) -> dict[str, int]:
    return dict(sorted(Counter(plan.assignment.values()).items()))


def _moves_between(plan: AssignmentPlan) -> Counter[tuple[str | None, str | None]]:
    return Counter((c.from_instance, c.to_instance) for c in plan.changes)


MANUAL_HELD = _held(fingerv7_001=45, fingerv7_002=25, fingerv7_003=30)


def test_manual_initial_distribution_300_streams_over_100_150_50() -> None:
    plan = plan_assignment(_streams(300), _fleet(100, 150, 50), {})
    assert _per_instance(plan) == {"fingerv7-001": 100, "fingerv7-002": 150, "fingerv7-003": 50}
    assert len(plan.changes) == 300
    assert {c.reason for c in plan.changes} == {ChangeReason.NEW}
    assert not plan.unassigned
    assert not plan.rebalanced


def test_manual_rebalance_45_25_30_becomes_34_33_33_with_11_moves() -> None:
    plan = plan_assignment(_streams(100), _fleet(50, 50, 50), MANUAL_HELD)
    assert _per_instance(plan) == {"fingerv7-001": 34, "fingerv7-002": 33, "fingerv7-003": 33}
    assert plan.rebalanced
    assert len(plan.moves) == 11 == len(plan.changes)
    assert _moves_between(plan) == {
        ("fingerv7-001", "fingerv7-002"): 8,
        ("fingerv7-001", "fingerv7-003"): 3,
    }
    assert plan.imbalance_before == pytest.approx(0.7 / 3)
    assert plan.imbalance_after == pytest.approx(0.02 / 1.5 * 1.0, abs=1e-9)
    assert "rebalance: imbalance 23.3% > 15.0%" in plan.explanation


def test_operator_forced_rebalance_ignores_threshold_and_cooldown() -> None:
    held = _held(fingerv7_001=52, fingerv7_002=48)
    quiet = plan_assignment(_streams(100), _fleet(100, 100), held, seconds_since_last_rebalance=0)
    assert quiet.changes == [] and not quiet.rebalanced

    forced = plan_assignment(
        _streams(100), _fleet(100, 100), held, seconds_since_last_rebalance=0, force_rebalance=True
    )
    assert _per_instance(forced) == {"fingerv7-001": 50, "fingerv7-002": 50}
    assert forced.rebalanced
    assert forced.changes == [
        Change(50, "fingerv7-001", "fingerv7-002", ChangeReason.REBALANCE),
        Change(51, "fingerv7-001", "fingerv7-002", ChangeReason.REBALANCE),
    ]


def test_cooldown_postpones_a_voluntary_rebalance() -> None:
    policy = BalancePolicy(rebalance_cooldown_s=300)
    fleet, streams = _fleet(50, 50, 50), _streams(100)
    early = plan_assignment(streams, fleet, MANUAL_HELD, policy, seconds_since_last_rebalance=299)
    assert early.changes == [] and not early.rebalanced
    assert any("cooldown" in line for line in early.explanation)
    due = plan_assignment(streams, fleet, MANUAL_HELD, policy, seconds_since_last_rebalance=300)
    assert len(due.moves) == 11


def test_max_stream_difference_triggers_when_the_percentage_does_not() -> None:
    held = _held(fingerv7_001=510, fingerv7_002=490)
    plan = plan_assignment(_streams(1000), _fleet(1000, 1000), held)
    assert plan.imbalance_before < 0.15
    assert _per_instance(plan) == {"fingerv7-001": 500, "fingerv7-002": 500}
    loose = BalancePolicy(max_stream_difference=10)
    assert plan_assignment(_streams(1000), _fleet(1000, 1000), held, loose).changes == []


def test_manual_failover_splits_a_dead_instance_24_and_23_and_moves_nothing_else() -> None:
    held = _held(fingerv7_001=40, fingerv7_002=47, fingerv7_003=40)
    fleet = _fleet(100, 100, 100)
    fleet[1] = InstanceSpec("fingerv7-002", 100, state=InstanceState.INACTIVE)
    plan = plan_assignment(_streams(127), fleet, held, seconds_since_last_rebalance=0)
    assert _moves_between(plan) == {
        ("fingerv7-002", "fingerv7-001"): 24,
        ("fingerv7-002", "fingerv7-003"): 23,
    }
    assert {c.reason for c in plan.changes} == {ChangeReason.FAILOVER}
    assert not plan.rebalanced


def test_failover_fills_the_emptiest_instances_first_during_cooldown() -> None:
    held = _held(fingerv7_001=30, fingerv7_002=10, fingerv7_003=20, ghost=6)
    plan = plan_assignment(_streams(66), _fleet(50, 50, 50), held, seconds_since_last_rebalance=0)
    # Targets 22/22/22: the 6 orphans of an unknown instance all go to the emptiest one.
    assert _moves_between(plan) == {("ghost", "fingerv7-002"): 6}
    assert {c.reason for c in plan.changes} == {ChangeReason.FAILOVER}


def test_new_streams_fill_below_target_without_moving_others() -> None:
    held = _held(fingerv7_001=40, fingerv7_002=10)
    plan = plan_assignment(_streams(60), _fleet(50, 50), held, seconds_since_last_rebalance=0)
    assert _per_instance(plan) == {"fingerv7-001": 40, "fingerv7-002": 20}
    assert {c.reason for c in plan.changes} == {ChangeReason.NEW}
    assert all(c.from_instance is None for c in plan.changes)


def test_draining_instance_hands_over_all_its_streams() -> None:
    fleet = [InstanceSpec("a", 10), InstanceSpec("b", 10, draining=True)]
    plan = plan_assignment(_streams(6), fleet, _held(a=3, b=3), seconds_since_last_rebalance=0)
    assert _per_instance(plan) == {"a": 6}
    assert [c.reason for c in plan.changes] == [ChangeReason.DRAIN] * 3


def test_shrunk_instance_sheds_only_its_excess_during_cooldown() -> None:
    fleet = [InstanceSpec("a", 30), InstanceSpec("b", 100)]
    plan = plan_assignment(_streams(50), fleet, _held(a=45, b=5), seconds_since_last_rebalance=0)
    assert _per_instance(plan) == {"a": 30, "b": 20}
    assert Counter(c.reason for c in plan.changes) == {ChangeReason.OVER_CAPACITY: 15}


def test_removed_streams_drop_out_and_free_their_slots() -> None:
    plan = plan_assignment(_streams(2), _fleet(10), {0: "fingerv7-001", 7: "fingerv7-001"})
    assert plan.assignment == {0: "fingerv7-001", 1: "fingerv7-001"}
    assert plan.changes == [
        Change(1, None, "fingerv7-001", ChangeReason.NEW),
        Change(7, "fingerv7-001", None, ChangeReason.REMOVED),
    ]


def test_streams_without_room_are_unassigned_with_a_reason() -> None:
    held = {0: "gone", 1: "a"}
    fleet = [InstanceSpec("a", 2), InstanceSpec("gone", 5, state=InstanceState.REMOVED)]
    plan = plan_assignment(_streams(4), fleet, held)
    assert plan.assignment == {0: "a", 1: "a"}
    assert plan.unassigned == {2: UnassignedReason.NO_CAPACITY, 3: UnassignedReason.NO_CAPACITY}
    assert plan.changes == [Change(0, "gone", "a", ChangeReason.FAILOVER)]

    nothing = plan_assignment(_streams(2), fleet[1:], {0: "gone"})
    assert nothing.assignment == {}
    assert set(nothing.unassigned.values()) == {UnassignedReason.NO_INSTANCES}
    assert nothing.changes == [Change(0, "gone", None, ChangeReason.NO_CAPACITY)]


def test_registered_instance_gets_its_share_on_the_next_rebalance() -> None:
    fleet = [*_fleet(50, 50), InstanceSpec("fingerv7-003", 50, state=InstanceState.REGISTERED)]
    held = _held(fingerv7_001=45, fingerv7_002=45)
    plan = plan_assignment(_streams(90), fleet, held, seconds_since_last_rebalance=600)
    assert _per_instance(plan) == {"fingerv7-001": 30, "fingerv7-002": 30, "fingerv7-003": 30}


def _rounds(
    policy: BalancePolicy, *, force: bool, rounds: int = 5
) -> tuple[list[int], Counter[str]]:
    fleet, streams, current = _fleet(50, 50, 50), _streams(100), dict(MANUAL_HELD)
    moves_per_round = []
    for _ in range(rounds):
        plan = plan_assignment(streams, fleet, current, policy, force_rebalance=force)
        moves_per_round.append(len(plan.moves))
        assert len(plan.changes) == len(plan.moves)
        assert all(c.from_instance == "fingerv7-001" for c in plan.changes)
        current = plan.assignment
    return moves_per_round, Counter(current.values())


def test_move_cap_with_forced_rounds_converges_to_targets() -> None:
    moves, counts = _rounds(BalancePolicy(max_voluntary_moves=4), force=True)
    assert moves == [4, 4, 3, 0, 0]
    assert counts == {"fingerv7-001": 34, "fingerv7-002": 33, "fingerv7-003": 33}


def test_move_cap_with_hysteresis_stops_once_within_threshold() -> None:
    moves, counts = _rounds(BalancePolicy(max_voluntary_moves=4), force=False)
    # Moves fill the biggest deficit first: 41/29/30, then 37/32/31, which is within 15% of
    # the mean load and within 3 streams of every target, so hysteresis stops there.
    assert moves == [4, 4, 0, 0, 0]
    assert counts == {"fingerv7-001": 37, "fingerv7-002": 32, "fingerv7-003": 31}


def test_location_strategy_keeps_streams_in_their_region() -> None:
    fleet = [
        InstanceSpec("sp-1", 10, location="sudeste"),
        InstanceSpec("rs-1", 10, location="sul"),
    ]
    streams = [StreamSpec(i, region="sul" if i % 2 else "sudeste") for i in range(12)]
    plan = plan_assignment(streams, fleet, {}, BalancePolicy(strategy=BalanceStrategy.LOCATION))
    assert all(plan.assignment[s.id] == ("rs-1" if s.region == "sul" else "sp-1") for s in streams)

    crowded = [*streams, *(StreamSpec(100 + i, region="sul") for i in range(4))]
    more = plan_assignment(crowded, fleet, plan.assignment, seconds_since_last_rebalance=0)
    assert _per_instance(more) == {"rs-1": 8, "sp-1": 8}


def test_duplicate_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="stream id 1 appears twice"):
        plan_assignment([StreamSpec(1), StreamSpec(2), StreamSpec(1)], _fleet(5), {})
    with pytest.raises(ValueError, match="appears twice"):
        plan_assignment(_streams(1), [InstanceSpec("a", 1), InstanceSpec("a", 2)], {})


def test_balance_report_reads_like_the_manual() -> None:
    plan = plan_assignment(_streams(100), _fleet(50, 50, 50), MANUAL_HELD)
    report = format_balance_report(plan)
    assert "rebalance: imbalance 23.3% > 15.0%" in report
    assert "  - fingerv7-001: 45/50 streams (90% load) -> 34/50 (68%), target 34" in report
    assert "Moving 8 streams from fingerv7-001 to fingerv7-002 (load_balancing)" in report
    assert "Moving 3 streams from fingerv7-001 to fingerv7-003 (load_balancing)" in report
    assert plan.explanation[1] == "changes: 11 load_balancing"


def test_balance_report_is_bounded_for_large_fleets() -> None:
    fleet = [InstanceSpec(f"i{n:03d}", 10) for n in range(200)]
    plan = plan_assignment(_streams(1500), fleet, {})
    report = format_balance_report(plan, max_lines=5)
    assert "  ... and 195 more instances" in report
    assert len(report) < 20


def test_plan_is_unaffected_by_changes_to_the_inputs_after_the_call() -> None:
    # `assignment` and `changes` are built on first access, from the plan's own arrays.
    current = _held(fingerv7_001=3)
    streams = _streams(4)
    plan = plan_assignment(streams, _fleet(5, 5), current, seconds_since_last_rebalance=0)
    current.clear()
    streams.clear()
    assert plan.change_count == 1
    assert plan.assignment == {
        0: "fingerv7-001",
        1: "fingerv7-001",
        2: "fingerv7-001",
        3: "fingerv7-002",
    }
    assert plan.changes == [Change(3, None, "fingerv7-002", ChangeReason.NEW)]
