"""Properties of AlertEvaluator over arbitrary condition traces (Hypothesis).

A trace is a list of (seconds since the previous tick, condition holds?) for one alert; the
properties are what an operator relies on: no spam, no silence about what lasts, and pairs that
make sense (a RESOLVED only after its FIRING).
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from fingerv7.core.alerting import (
    AlertEvaluator,
    AlertEvent,
    AlertRule,
    AlertSeverity,
    AlertStatus,
    FleetSnapshot,
)

traces = st.lists(
    st.tuples(st.integers(min_value=0, max_value=120), st.booleans()), min_size=1, max_size=80
)
for_durations = st.sampled_from([0, 30, 60, 300])
cooldowns = st.sampled_from([0, 45, 300, 900])


def _run(
    trace: list[tuple[int, bool]], for_s: float, cooldown_s: float
) -> tuple[list[tuple[float, bool]], list[AlertEvent], list[int]]:
    """Ticks as (time, holds), the events, and for each event the index of its tick."""
    rule: AlertRule[FleetSnapshot] = AlertRule(
        "StreamsUnassigned",
        AlertSeverity.WARNING,
        "s",
        for_s,
        lambda s: {"": "d"} if s.unassigned_streams else {},
    )
    evaluator = AlertEvaluator([rule], cooldown_s=cooldown_s)
    now_s = 0.0
    ticks: list[tuple[float, bool]] = []
    events: list[AlertEvent] = []
    event_ticks: list[int] = []
    for step_s, holds in trace:
        now_s += step_s
        ticks.append((now_s, holds))
        snapshot = FleetSnapshot(
            active_instances=1, unassigned_streams=int(holds), external_db_up=True
        )
        new_events = evaluator.evaluate(snapshot, now_s)
        events += new_events
        event_ticks += [len(ticks) - 1] * len(new_events)
    return ticks, events, event_ticks


@settings(max_examples=300, deadline=None)
@given(traces, for_durations, cooldowns)
def test_events_alternate_starting_with_firing(
    trace: list[tuple[int, bool]], for_s: float, cooldown_s: float
) -> None:
    _, events, _ = _run(trace, for_s, cooldown_s)

    statuses = [event.status for event in events]
    expected = [AlertStatus.FIRING, AlertStatus.RESOLVED] * len(statuses)
    assert statuses == expected[: len(statuses)]


@settings(max_examples=300, deadline=None)
@given(traces, for_durations, cooldowns)
def test_firing_events_are_at_least_a_cooldown_apart(
    trace: list[tuple[int, bool]], for_s: float, cooldown_s: float
) -> None:
    _, events, _ = _run(trace, for_s, cooldown_s)

    fired_at = [e.at_s for e in events if e.status is AlertStatus.FIRING]
    assert all(later - earlier >= cooldown_s for earlier, later in itertools.pairwise(fired_at))


@settings(max_examples=300, deadline=None)
@given(traces, for_durations, cooldowns)
def test_firing_only_after_the_condition_held_continuously_for_its_duration(
    trace: list[tuple[int, bool]], for_s: float, cooldown_s: float
) -> None:
    ticks, events, event_ticks = _run(trace, for_s, cooldown_s)

    for event, tick in zip(events, event_ticks, strict=True):
        if event.status is not AlertStatus.FIRING:
            continue
        episode_start = tick
        while episode_start > 0 and ticks[episode_start - 1][1]:
            episode_start -= 1
        assert all(holds for _, holds in ticks[episode_start : tick + 1])
        assert event.active_since_s == ticks[episode_start][0]
        assert event.at_s - event.active_since_s >= for_s


@settings(max_examples=300, deadline=None)
@given(traces, for_durations, cooldowns)
def test_the_last_word_matches_the_final_state(
    trace: list[tuple[int, bool]], for_s: float, cooldown_s: float
) -> None:
    """Once quiet, nothing is left announced; a condition that lasts is announced in the end."""
    long_tail_s = int(for_s + cooldown_s) + 1
    for final in (True, False):
        full = [*trace, (1, final), (long_tail_s, final), (1, final)]
        _, events, _ = _run(full, for_s, cooldown_s)

        last_status = events[-1].status if events else None
        if final:
            assert last_status is AlertStatus.FIRING
        else:
            assert last_status in (None, AlertStatus.RESOLVED)
