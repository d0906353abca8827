"""deploy/prometheus: the manual's alerts, written against metrics the code exposes."""

from __future__ import annotations

from typing import Any

from fingerv7.core.alerting import default_rules
from fingerv7.core.stream_health import StreamAlertThresholds, stream_rules

from .contract import DEPLOY, KNOWN_SERIES, PROMETHEUS_SERIES, load_yaml
from .promql import series_names

PROMETHEUS = DEPLOY / "prometheus"
RULES: list[dict[str, Any]] = [
    rule for group in load_yaml(PROMETHEUS / "alerts.yml")["groups"] for rule in group["rules"]
]
ALERTS = {rule["alert"]: rule for rule in RULES}


def test_expressions_read_only_known_series() -> None:
    for rule in RULES:
        names = series_names(rule["expr"])
        assert names, f"{rule['alert']}: no series found"
        assert names <= KNOWN_SERIES | PROMETHEUS_SERIES, rule["alert"]


def test_the_manuals_alerts_with_their_durations() -> None:
    assert ALERTS["OrchestratorDown"]["for"] == "5m"
    assert ALERTS["NoActiveInstance"]["for"] == "10m"
    assert ALERTS["StreamsUnassigned"]["for"] == "10m"
    assert "fingerv7_external_database_up == 0" in ALERTS["ExternalDatabaseDown"]["expr"]
    assert "> 0.9" in ALERTS["OrchestratorMemoryHigh"]["expr"]
    assert "> 0.05" in ALERTS["OrchestratorErrorRateHigh"]["expr"]
    assert "fingerv7_instance_state_changes_total" in ALERTS["InstanceFlapping"]["expr"]


def test_built_in_notifications_share_the_prometheus_alert_names() -> None:
    assert {rule.name for rule in default_rules()} <= set(ALERTS)
    assert {rule.name for rule in stream_rules(StreamAlertThresholds())} <= set(ALERTS)


def test_every_alert_has_a_severity_and_a_text() -> None:
    for rule in RULES:
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_alerts_use_the_scrape_job_names_of_prometheus_yml() -> None:
    jobs = {job["job_name"] for job in load_yaml(PROMETHEUS / "prometheus.yml")["scrape_configs"]}

    assert jobs == {"fingerv7-orchestrator", "fingerv7-worker"}
    assert 'job="fingerv7-orchestrator"' in ALERTS["OrchestratorDown"]["expr"]
    assert load_yaml(PROMETHEUS / "prometheus.yml")["rule_files"] == ["alerts.yml"]


def test_promtool_rule_tests_cover_the_alerts_they_name() -> None:
    tests = load_yaml(PROMETHEUS / "alerts.test.yml")
    named = {
        case["alertname"] for test in tests["tests"] for case in test.get("alert_rule_test", [])
    }

    assert tests["rule_files"] == ["alerts.yml"]
    assert named <= set(ALERTS)
    assert len(named) >= 5
