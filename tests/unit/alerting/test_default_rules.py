"""The built-in rules: the manual's alerts with their thresholds and `for` durations."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from fingerv7.core.alerting import (
    AlertEvaluator,
    AlertSeverity,
    AlertStatus,
    AlertThresholds,
    FleetSnapshot,
    StateChangeWindow,
    default_rules,
)

HEALTHY = FleetSnapshot(
    active_instances=3,
    unassigned_streams=0,
    external_db_up=True,
    memory_ratio=0.5,
    error_rate=0.01,
    state_changes_by_instance={"fingerv7-001": 1},
)


def _firing_rules(snapshot: FleetSnapshot, held_for_s: float) -> set[str]:
    evaluator = AlertEvaluator(default_rules(), cooldown_s=0)
    events = evaluator.evaluate(snapshot, now_s=0)
    events += evaluator.evaluate(snapshot, now_s=held_for_s)
    return {event.key for event in events if event.status is AlertStatus.FIRING}


def test_a_healthy_fleet_fires_nothing_however_long() -> None:
    assert _firing_rules(HEALTHY, held_for_s=86_400) == set()


@pytest.mark.parametrize(
    ("change", "rule", "for_s"),
    [
        ({"external_db_up": False}, "ExternalDatabaseDown", 60),
        ({"active_instances": 0}, "NoActiveInstance", 600),
        ({"memory_ratio": 0.95}, "OrchestratorMemoryHigh", 300),
        ({"error_rate": 0.06}, "OrchestratorErrorRateHigh", 300),
        ({"unassigned_streams": 12}, "StreamsUnassigned", 600),
    ],
)
def test_each_manual_alert_fires_after_its_duration(
    change: dict[str, Any], rule: str, for_s: float
) -> None:
    snapshot = replace(HEALTHY, **change)

    assert _firing_rules(snapshot, held_for_s=for_s - 1) == set()
    assert _firing_rules(snapshot, held_for_s=for_s) == {rule}


def test_thresholds_are_exclusive_limits() -> None:
    at_limit = replace(HEALTHY, memory_ratio=0.90, error_rate=0.05)

    assert _firing_rules(at_limit, held_for_s=3600) == set()


def test_unknown_memory_and_error_rate_never_fire() -> None:
    unknown = replace(HEALTHY, memory_ratio=None, error_rate=None)

    assert _firing_rules(unknown, held_for_s=3600) == set()


def test_flapping_fires_at_once_per_instance_above_the_limit() -> None:
    snapshot = replace(HEALTHY, state_changes_by_instance={"fingerv7-001": 4, "x": 5})

    assert _firing_rules(snapshot, held_for_s=0) == {"InstanceFlapping/x"}


def test_custom_thresholds_are_used() -> None:
    rules = default_rules(AlertThresholds(unassigned_for_s=30))
    evaluator = AlertEvaluator(rules, cooldown_s=0)
    snapshot = replace(HEALTHY, unassigned_streams=1)

    evaluator.evaluate(snapshot, now_s=0)
    events = evaluator.evaluate(snapshot, now_s=30)

    assert [(e.rule, e.status, e.severity) for e in events] == [
        ("StreamsUnassigned", AlertStatus.FIRING, AlertSeverity.WARNING)
    ]
    assert events[0].description == "1 stream(s) have no instance: add capacity or instances."


def test_rule_names_match_the_prometheus_alert_names() -> None:
    names = {rule.name for rule in default_rules()}

    assert names == {
        "ExternalDatabaseDown",
        "NoActiveInstance",
        "OrchestratorMemoryHigh",
        "OrchestratorErrorRateHigh",
        "StreamsUnassigned",
        "InstanceFlapping",
    }


def test_state_change_window_counts_only_recent_changes() -> None:
    window = StateChangeWindow(window_s=1800)
    for t in (0, 100, 200):
        window.record("a", t)
    window.record("b", 1000)

    assert window.counts(now_s=1000) == {"a": 3, "b": 1}
    assert window.counts(now_s=1850) == {"a": 2, "b": 1}
    assert window.counts(now_s=2800) == {}


def test_state_change_window_rejects_an_empty_window() -> None:
    with pytest.raises(ValueError, match="window_s"):
        StateChangeWindow(window_s=0)
