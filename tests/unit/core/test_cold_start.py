"""The cold-start hold (core/cold_start.py): times are given, so every case is exact."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fingerv7.core.cold_start import ColdStartPolicy, JoinWatch

POLICY = ColdStartPolicy(quiet_s=3.0, max_s=15.0)


def test_placing_waits_until_no_instance_has_joined_for_the_quiet_time() -> None:
    watch = JoinWatch(POLICY)

    assert watch.hold_until({"a"}, runs_nothing=True, now_s=100.0) == 103.0
    assert watch.hold_until({"a", "b"}, runs_nothing=True, now_s=102.0) == 105.0
    assert watch.hold_until({"a", "b"}, runs_nothing=True, now_s=104.0) == 105.0
    assert watch.hold_until({"a", "b"}, runs_nothing=True, now_s=105.0) is None


def test_instances_that_keep_joining_hold_placing_no_longer_than_the_cap() -> None:
    watch = JoinWatch(POLICY)
    live: set[str] = set()
    holds = []
    for second in range(20):
        live.add(f"i{second}")
        holds.append(watch.hold_until(live, runs_nothing=True, now_s=100.0 + second))

    assert holds[0] == 103.0
    assert holds[11] == 114.0
    assert holds[12] == 115.0  # the cap: first join + 15 s
    assert holds[15:] == [None] * 5


def test_a_fleet_that_runs_something_is_never_held() -> None:
    watch = JoinWatch(POLICY)

    assert watch.hold_until({"a"}, runs_nothing=False, now_s=100.0) is None
    assert watch.hold_until({"a", "b"}, runs_nothing=False, now_s=101.0) is None


def test_instances_that_joined_long_before_the_first_stream_do_not_hold_it() -> None:
    watch = JoinWatch(POLICY)
    watch.hold_until({"a", "b"}, runs_nothing=True, now_s=100.0)

    assert watch.hold_until({"a", "b"}, runs_nothing=True, now_s=500.0) is None


def test_a_fleet_that_ran_something_and_lost_it_holds_again_for_new_joins() -> None:
    watch = JoinWatch(POLICY)
    watch.hold_until({"a"}, runs_nothing=True, now_s=100.0)
    watch.hold_until({"a"}, runs_nothing=False, now_s=110.0)  # placed
    watch.hold_until(set(), runs_nothing=True, now_s=200.0)  # every instance died

    assert watch.hold_until({"b"}, runs_nothing=True, now_s=300.0) == 303.0


def test_a_quiet_time_of_zero_turns_the_hold_off() -> None:
    watch = JoinWatch(ColdStartPolicy(quiet_s=0.0, max_s=15.0))

    assert watch.hold_until({"a"}, runs_nothing=True, now_s=100.0) is None


@given(
    st.lists(
        st.tuples(st.floats(0, 5), st.sets(st.sampled_from("abcdefgh")), st.booleans()),
        max_size=30,
    )
)
def test_the_hold_ends_in_the_future_and_never_past_the_cap(
    steps: list[tuple[float, set[str], bool]],
) -> None:
    watch = JoinWatch(POLICY)
    now_s, first_join_s, known = 0.0, None, set[str]()
    for gap_s, live, runs_nothing in steps:
        now_s += gap_s
        until = watch.hold_until(live, runs_nothing, now_s)
        joined, known = bool(live - known), live
        if not runs_nothing:
            first_join_s = None
        elif joined and first_join_s is None:
            first_join_s = now_s
        if until is not None:
            assert runs_nothing and first_join_s is not None
            assert now_s < until <= first_join_s + POLICY.max_s
