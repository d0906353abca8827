"""AlertEvaluator: `for` durations, one FIRING and one RESOLVED per episode, and the cooldown."""

from __future__ import annotations

import pytest

from fingerv7.core.alerting import (
    AlertEvaluator,
    AlertRule,
    AlertSeverity,
    AlertStatus,
    FleetSnapshot,
)


def _snapshot(unassigned: int = 0, changes: dict[str, int] | None = None) -> FleetSnapshot:
    return FleetSnapshot(
        active_instances=1,
        unassigned_streams=unassigned,
        external_db_up=True,
        state_changes_by_instance=changes or {},
    )


def _unassigned_rule(for_s: float) -> AlertRule:
    return AlertRule(
        "StreamsUnassigned",
        AlertSeverity.WARNING,
        "Streams without an instance",
        for_s,
        lambda s: {"": f"{s.unassigned_streams} unassigned"} if s.unassigned_streams else {},
    )


def _per_instance_rule() -> AlertRule:
    return AlertRule(
        "InstanceFlapping",
        AlertSeverity.WARNING,
        "Instance flapping",
        0,
        lambda s: {i: f"{i} flaps" for i, n in s.state_changes_by_instance.items() if n > 4},
    )


def test_fires_only_after_the_condition_held_for_its_duration() -> None:
    evaluator = AlertEvaluator([_unassigned_rule(for_s=600)], cooldown_s=0)

    assert evaluator.evaluate(_snapshot(unassigned=3), now_s=1000) == []
    assert evaluator.evaluate(_snapshot(unassigned=3), now_s=1599) == []
    events = evaluator.evaluate(_snapshot(unassigned=3), now_s=1600)

    assert [(e.rule, e.status) for e in events] == [("StreamsUnassigned", AlertStatus.FIRING)]
    assert events[0].active_since_s == 1000
    assert events[0].at_s == 1600
    assert events[0].description == "3 unassigned"


def test_a_blip_shorter_than_the_duration_never_notifies() -> None:
    evaluator = AlertEvaluator([_unassigned_rule(for_s=600)], cooldown_s=0)

    evaluator.evaluate(_snapshot(unassigned=3), now_s=0)
    evaluator.evaluate(_snapshot(unassigned=3), now_s=500)
    assert evaluator.evaluate(_snapshot(unassigned=0), now_s=550) == []
    # The clock restarts: 600 s after the condition came back, not after it first appeared.
    assert evaluator.evaluate(_snapshot(unassigned=3), now_s=560) == []
    assert evaluator.evaluate(_snapshot(unassigned=3), now_s=1100) == []
    assert len(evaluator.evaluate(_snapshot(unassigned=3), now_s=1160)) == 1


def test_notifies_once_while_firing_and_once_when_resolved() -> None:
    evaluator = AlertEvaluator([_unassigned_rule(for_s=0)], cooldown_s=0)

    first = evaluator.evaluate(_snapshot(unassigned=1), now_s=10)
    repeats = [evaluator.evaluate(_snapshot(unassigned=1), now_s=t) for t in range(11, 20)]
    resolved = evaluator.evaluate(_snapshot(unassigned=0), now_s=20)
    after = evaluator.evaluate(_snapshot(unassigned=0), now_s=21)

    assert [e.status for e in first] == [AlertStatus.FIRING]
    assert all(batch == [] for batch in repeats)
    assert [e.status for e in resolved] == [AlertStatus.RESOLVED]
    assert resolved[0].active_since_s == 10
    assert resolved[0].at_s == 20
    assert after == []


def test_cooldown_holds_back_a_refire_then_announces_it_if_it_lasts() -> None:
    evaluator = AlertEvaluator([_unassigned_rule(for_s=0)], cooldown_s=300)

    assert len(evaluator.evaluate(_snapshot(unassigned=1), now_s=0)) == 1  # FIRING
    assert len(evaluator.evaluate(_snapshot(unassigned=0), now_s=10)) == 1  # RESOLVED
    # Flaps back within the cooldown: silent...
    assert evaluator.evaluate(_snapshot(unassigned=1), now_s=20) == []
    assert evaluator.evaluate(_snapshot(unassigned=1), now_s=299) == []
    # ...and announced once the cooldown is over, since it still holds.
    events = evaluator.evaluate(_snapshot(unassigned=1), now_s=300)
    assert [e.status for e in events] == [AlertStatus.FIRING]
    assert events[0].active_since_s == 20


def test_an_episode_held_back_by_the_cooldown_resolves_silently() -> None:
    evaluator = AlertEvaluator([_unassigned_rule(for_s=0)], cooldown_s=300)

    evaluator.evaluate(_snapshot(unassigned=1), now_s=0)
    evaluator.evaluate(_snapshot(unassigned=0), now_s=10)
    evaluator.evaluate(_snapshot(unassigned=1), now_s=20)

    assert evaluator.evaluate(_snapshot(unassigned=0), now_s=30) == []


def test_flapping_condition_sends_at_most_two_messages_per_cooldown() -> None:
    evaluator = AlertEvaluator([_unassigned_rule(for_s=0)], cooldown_s=600)

    events = []
    for t in range(0, 600, 5):
        events += evaluator.evaluate(_snapshot(unassigned=(t // 5) % 2), now_s=t)

    assert [e.status for e in events] == [AlertStatus.FIRING, AlertStatus.RESOLVED]


def test_per_instance_alerts_are_separate() -> None:
    evaluator = AlertEvaluator([_per_instance_rule()], cooldown_s=0)

    fired = evaluator.evaluate(_snapshot(changes={"a": 5, "b": 9, "c": 1}), now_s=0)
    only_b_left = evaluator.evaluate(_snapshot(changes={"b": 9}), now_s=5)

    assert sorted(e.key for e in fired) == ["InstanceFlapping/a", "InstanceFlapping/b"]
    assert [(e.key, e.status) for e in only_b_left] == [
        ("InstanceFlapping/a", AlertStatus.RESOLVED)
    ]
    assert [e.key for e in evaluator.firing()] == ["InstanceFlapping/b"]


def test_firing_lists_alerts_held_back_by_the_cooldown() -> None:
    evaluator = AlertEvaluator([_unassigned_rule(for_s=0)], cooldown_s=300)
    evaluator.evaluate(_snapshot(unassigned=1), now_s=0)
    evaluator.evaluate(_snapshot(unassigned=0), now_s=10)
    assert evaluator.firing() == []

    evaluator.evaluate(_snapshot(unassigned=1), now_s=20)

    assert [e.rule for e in evaluator.firing()] == ["StreamsUnassigned"]


def test_a_clock_stepping_back_is_treated_as_standing_still() -> None:
    evaluator = AlertEvaluator([_unassigned_rule(for_s=60)], cooldown_s=0)
    evaluator.evaluate(_snapshot(unassigned=1), now_s=1000)

    assert evaluator.evaluate(_snapshot(unassigned=1), now_s=10) == []  # stepped back
    events = evaluator.evaluate(_snapshot(unassigned=1), now_s=1060)

    assert [e.at_s for e in events] == [1060]


def test_rule_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        AlertEvaluator([_unassigned_rule(0), _unassigned_rule(5)])


def test_negative_cooldown_is_rejected() -> None:
    with pytest.raises(ValueError, match="cooldown_s"):
        AlertEvaluator([_unassigned_rule(0)], cooldown_s=-1)
