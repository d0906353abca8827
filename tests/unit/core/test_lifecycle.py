"""Instance lifecycle (manual §7) as a pure function of silence and reports."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fingerv7.core.lifecycle import (
    InstanceFacts,
    LifecycleTimeouts,
    derive_state,
    next_transition_s,
    silence_s,
)
from fingerv7.core.planning.model import InstanceState as S

TIMEOUTS = LifecycleTimeouts(warning_s=90, inactive_s=180, removal_s=3600)


def facts(state: S, last_seen_s: float = 0, **kw: object) -> InstanceFacts:
    values: dict[str, object] = {
        "has_heartbeat": True,
        "applied_generation": 5,
        "assigned_generation": 5,
    }
    values.update(kw)
    return InstanceFacts(state=state, last_seen_s=last_seen_s, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "now_s", "expected"),
    [
        (S.ACTIVE, 10, S.ACTIVE),
        (S.ACTIVE, 91, S.WARNING),
        (S.WARNING, 10, S.ACTIVE),
        (S.WARNING, 181, S.INACTIVE),
        (S.INACTIVE, 10, S.RECOVERING),
        (S.INACTIVE, 3601, S.REMOVED),
        (S.RECOVERING, 10, S.ACTIVE),
    ],
)
def test_manual_transitions(state: S, now_s: float, expected: S) -> None:
    assert derive_state(facts(state), now_s, TIMEOUTS) is expected


def test_registered_until_the_first_heartbeat() -> None:
    assert derive_state(facts(S.REGISTERED, has_heartbeat=False), 10, TIMEOUTS) is S.REGISTERED
    assert derive_state(facts(S.REGISTERED), 10, TIMEOUTS) is S.ACTIVE
    assert derive_state(facts(S.REGISTERED, has_heartbeat=False), 200, TIMEOUTS) is S.INACTIVE


def test_recovering_until_it_has_applied_its_assignment() -> None:
    behind = facts(S.RECOVERING, applied_generation=3, assigned_generation=7)
    assert derive_state(behind, 10, TIMEOUTS) is S.RECOVERING
    caught_up = facts(S.RECOVERING, applied_generation=7, assigned_generation=7)
    assert derive_state(caught_up, 10, TIMEOUTS) is S.ACTIVE


def test_deregistered_is_removed_at_once() -> None:
    assert derive_state(facts(S.ACTIVE, deregistered=True), 0, TIMEOUTS) is S.REMOVED


def test_grace_after_an_orchestrator_restart() -> None:
    """Silence counts from the restart: one full timeout to beat before anyone is declared dead."""
    long_ago = facts(S.ACTIVE, last_seen_s=0)
    assert derive_state(long_ago, 1000, TIMEOUTS) is S.INACTIVE
    assert derive_state(long_ago, 1000, TIMEOUTS, grace_start_s=900) is S.WARNING
    assert derive_state(long_ago, 1000, TIMEOUTS, grace_start_s=990) is S.ACTIVE


@given(
    state=st.sampled_from(list(S)),
    last_seen_s=st.floats(0, 10_000),
    now_s=st.floats(0, 10_000),
    grace=st.none() | st.floats(0, 10_000),
)
def test_silence_decides_death_whatever_the_history(
    state: S, last_seen_s: float, now_s: float, grace: float | None
) -> None:
    result = derive_state(facts(state, last_seen_s), now_s, TIMEOUTS, grace)
    silent = silence_s(last_seen_s, now_s, grace)
    assert (result in (S.INACTIVE, S.REMOVED)) == (silent > TIMEOUTS.inactive_s)
    if silent <= TIMEOUTS.warning_s and state not in (S.INACTIVE, S.REMOVED, S.RECOVERING):
        assert result is S.ACTIVE


def test_the_next_transition_is_the_nearest_threshold_of_the_quietest_instance() -> None:
    fleet = [facts(S.ACTIVE, last_seen_s=50), facts(S.WARNING, last_seen_s=0)]

    assert next_transition_s(fleet, now_s=100, timeouts=TIMEOUTS) == 140  # 50 + 90: warning
    assert next_transition_s(fleet, now_s=150, timeouts=TIMEOUTS) == 180  # 0 + 180: inactive
    # silent exactly 180 s: still WARNING, INACTIVE the moment after: due now (not at 230)
    assert next_transition_s(fleet, now_s=180, timeouts=TIMEOUTS) == 180
    # after a restart, silence counts from the restart (grace)
    assert next_transition_s(fleet, now_s=150, timeouts=TIMEOUTS, grace_start_s=120) == 210
    assert next_transition_s([facts(S.REMOVED, deregistered=True)], 10, TIMEOUTS) is None


states = st.sampled_from(list(S))
fleet_facts = st.lists(
    st.builds(
        facts,
        states,
        last_seen_s=st.floats(0, 5000),
        has_heartbeat=st.booleans(),
        deregistered=st.booleans(),
    ),
    max_size=8,
)


@given(fleet_facts, st.floats(0, 5000), st.floats(0, 1), st.one_of(st.none(), st.floats(0, 5000)))
def test_no_state_changes_by_silence_before_the_next_transition(
    fleet: list[InstanceFacts], now_s: float, fraction: float, grace_start_s: float | None
) -> None:
    """The monitor may sleep until then: no derived state differs at any moment before it."""
    due_s = next_transition_s(fleet, now_s, TIMEOUTS, grace_start_s)
    later_s = now_s + 10_000 if due_s is None else now_s + fraction * (due_s - now_s)
    for f in fleet:
        assert derive_state(f, later_s, TIMEOUTS, grace_start_s) is derive_state(
            f, now_s, TIMEOUTS, grace_start_s
        )
