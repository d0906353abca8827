"""Judging stream health from holders, liveness and reports; the stream alert rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fingerv7.core.alerting import AlertEvaluator, AlertStatus
from fingerv7.core.planning.model import InstanceState
from fingerv7.core.stream_health import (
    InstanceFacts,
    ReportedHealth,
    StreamAlertThresholds,
    StreamHealthSnapshot,
    StreamState,
    count_states,
    decide_quarantine,
    judge,
    problems_first,
    stream_rules,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def facts(state: InstanceState, *running: int, seen_s_ago: float = 1) -> InstanceFacts:
    return InstanceFacts(state, NOW - timedelta(seconds=seen_s_ago), frozenset(running))


def test_a_stream_runs_only_where_a_live_holder_reports_it() -> None:
    instances = {
        "a": facts(InstanceState.ACTIVE, 1, 2),
        "b": facts(InstanceState.WARNING, 3, seen_s_ago=40),
        "c": facts(InstanceState.INACTIVE, 4, seen_s_ago=400),
    }
    assert judge(1, "a", instances, None).state is StreamState.RUNNING  # old worker: no detail
    assert judge(5, "a", instances, None).state is StreamState.CONNECTING  # not started yet
    silent = judge(3, "b", instances, None)
    assert silent.state is StreamState.RECONNECTING and silent.down_for_s(NOW) == 40
    assert "warning" in (silent.reason or "")
    assert judge(4, "c", instances, None).state is StreamState.RECONNECTING
    assert judge(6, None, instances, None).state is StreamState.UNASSIGNED
    assert judge(7, "gone", instances, None).state is StreamState.RECONNECTING


def test_the_holders_report_gives_state_since_and_reason() -> None:
    instances = {"a": facts(InstanceState.ACTIVE, 1), "b": facts(InstanceState.ACTIVE, 1)}
    since = NOW - timedelta(seconds=90)
    report = ReportedHealth("a", StreamState.RECONNECTING, since, {"last_error": "503"})
    health = judge(1, "a", instances, report)
    assert (health.state, health.since, health.reason) == (StreamState.RECONNECTING, since, "503")
    assert health.to_json(NOW)["down_seconds"] == 90
    # A report by the previous holder says nothing about the new one.
    assert judge(1, "b", instances, report).state is StreamState.RUNNING


def test_counts_and_problems_first() -> None:
    instances = {"a": facts(InstanceState.ACTIVE, 1, 2, 3)}
    reports = {
        2: ReportedHealth("a", StreamState.RECONNECTING, NOW - timedelta(seconds=10)),
        3: ReportedHealth("a", StreamState.RECONNECTING, NOW - timedelta(seconds=99)),
    }
    healths = [judge(s, "a", instances, reports.get(s)) for s in (1, 2, 3)]
    assert count_states(healths) == {
        "running": 1,
        "connecting": 0,
        "reconnecting": 2,
        "unassigned": 0,
    }
    assert [h.stream_id for h in problems_first(healths, NOW)] == [3, 2, 1]


def test_stream_down_fires_past_the_threshold_and_resolves_once() -> None:
    limits = StreamAlertThresholds(down_s=300, silent_s=600, down_share=0.5)
    evaluator = AlertEvaluator(stream_rules(limits), cooldown_s=0)
    instances = {"a": facts(InstanceState.ACTIVE, 1, 2)}
    identified = {"last_identified_at": NOW - timedelta(seconds=700)}

    def snapshot(down_since_s: float | None, at: datetime) -> StreamHealthSnapshot:
        hour_ago = NOW - timedelta(hours=1)
        reports = {2: ReportedHealth("a", StreamState.RUNNING, hour_ago, identified)}
        if down_since_s is not None:
            since = NOW - timedelta(seconds=down_since_s)
            reports[1] = ReportedHealth("a", StreamState.RECONNECTING, since)
        else:  # just back: identified long ago, but running only since now, so not silent
            reports[1] = ReportedHealth("a", StreamState.RUNNING, NOW, identified)
        return StreamHealthSnapshot(at, tuple(judge(s, "a", instances, reports[s]) for s in (1, 2)))

    silent = evaluator.evaluate(snapshot(200, NOW), NOW.timestamp())
    assert [(e.rule, e.subject, e.status) for e in silent] == [
        ("StreamSilent", "2", AlertStatus.FIRING)
    ]
    fired = evaluator.evaluate(snapshot(301, NOW), NOW.timestamp() + 1)
    assert [(e.rule, e.subject, e.status) for e in fired] == [
        ("StreamDown", "1", AlertStatus.FIRING)
    ]
    assert evaluator.evaluate(snapshot(302, NOW), NOW.timestamp() + 2) == []
    back = evaluator.evaluate(snapshot(None, NOW), NOW.timestamp() + 3)
    assert [(e.rule, e.subject, e.status) for e in back] == [
        ("StreamDown", "1", AlertStatus.RESOLVED)
    ]


def test_quarantine_moves_a_stream_its_holder_reports_down_too_long_once() -> None:
    instances = {"a": facts(InstanceState.ACTIVE, 1, 2, 3), "w": facts(InstanceState.WARNING, 4)}
    long_ago, lately = NOW - timedelta(seconds=600), NOW - timedelta(seconds=30)
    healths = [
        judge(1, "a", instances, ReportedHealth("a", StreamState.RECONNECTING, long_ago)),
        judge(2, "a", instances, ReportedHealth("a", StreamState.RECONNECTING, lately)),
        judge(3, "a", instances, ReportedHealth("a", StreamState.CONNECTING, long_ago)),
        # Its holder is silent: failover's business, however long.
        judge(4, "w", {"w": facts(InstanceState.WARNING, 4, seen_s_ago=900)}, None),
        judge(5, None, instances, None),
    ]
    decision = decide_quarantine(healths, NOW, 300, moved={})
    assert decision.move_away == {1: "a", 3: "a"} and decision.newly_due == {1, 3}
    assert decide_quarantine(healths, NOW, 0, moved={}).move_away == {}  # off
    # Already moved away from "z" for this episode: not moved again, but kept off "z" while
    # the episode goes on (it is still down).
    again = decide_quarantine(healths, NOW, 300, moved={1: "z", 3: "z"})
    assert again.move_away == {1: "z", 3: "z"} and not again.newly_due and not again.ended


def test_a_quarantine_episode_ends_when_the_stream_runs_or_leaves() -> None:
    instances = {"b": facts(InstanceState.ACTIVE, 1)}
    running = judge(1, "b", instances, ReportedHealth("b", StreamState.RUNNING, NOW))
    decision = decide_quarantine([running], NOW, 300, moved={1: "a", 7: "a"})
    assert decision.ended == {1, 7} and decision.move_away == {}


def test_a_new_holder_that_has_not_reported_yet_does_not_end_the_episode() -> None:
    # Moved from "a" to "b": "b" runs it but has sent no health yet (judged running, unreported).
    instances = {"b": facts(InstanceState.ACTIVE, 1)}
    stale = ReportedHealth("a", StreamState.RECONNECTING, NOW - timedelta(seconds=900))
    health = judge(1, "b", instances, stale)
    assert health.state is StreamState.RUNNING and not health.reported
    decision = decide_quarantine([health], NOW, 300, moved={1: "a"})
    assert decision.move_away == {1: "a"} and not decision.ended
