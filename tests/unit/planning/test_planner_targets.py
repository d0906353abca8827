"""Targets, the imbalance metric and the water-level fill, on small hand-checked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingerv7.core.planning import (
    PERFORMANCE_SCORE_MAX,
    PERFORMANCE_SCORE_MIN,
    BalanceStrategy,
    InstanceSpec,
    InstanceState,
    apportion,
    clip_performance_score,
    compute_imbalance,
    compute_targets,
)
from fingerv7.core.planning.balance import level_fill
from fingerv7.core.planning.targets import apportion_array


def test_manual_imbalance_example_is_23_percent() -> None:
    # Loads 90% / 50% / 60%: mean 66.7%, furthest is 90% -> 23.3%.
    assert compute_imbalance([(45, 50), (25, 50), (30, 50)]) == pytest.approx(0.7 / 3)


def test_imbalance_ignores_instances_without_capacity_and_empty_fleets() -> None:
    assert compute_imbalance([]) == 0.0
    assert compute_imbalance([(0, 0), (5, 10)]) == 0.0
    assert compute_imbalance([(10, 10), (0, 10)]) == pytest.approx(0.5)


def test_capacity_targets_are_proportional_to_max_streams() -> None:
    fleet = [InstanceSpec("a", 100), InstanceSpec("b", 150), InstanceSpec("c", 50)]
    assert compute_targets(fleet, 300) == {"a": 100, "b": 150, "c": 50}
    assert compute_targets(fleet, 150) == {"a": 50, "b": 75, "c": 25}


def test_targets_never_exceed_capacity_and_stop_at_total_capacity() -> None:
    fleet = [InstanceSpec("a", 10), InstanceSpec("b", 5)]
    assert compute_targets(fleet, 1000) == {"a": 10, "b": 5}


def test_targets_skip_instances_that_do_not_accept_streams() -> None:
    fleet = [
        InstanceSpec("a", 10),
        InstanceSpec("b", 10, state=InstanceState.INACTIVE),
        InstanceSpec("c", 10, draining=True),
        InstanceSpec("d", 0),
        InstanceSpec("e", 10, state=InstanceState.RECOVERING),
    ]
    assert compute_targets(fleet, 10) == {"a": 5, "e": 5}


def test_extra_stream_goes_where_it_already_is() -> None:
    fleet = [InstanceSpec("a", 50), InstanceSpec("b", 50), InstanceSpec("c", 50)]
    assert compute_targets(fleet, 100) == {"a": 34, "b": 33, "c": 33}
    held = {"a": 30, "b": 25, "c": 45}
    assert compute_targets(fleet, 100, current_counts=held) == {"a": 33, "b": 33, "c": 34}


def test_performance_targets_follow_score_but_never_exceed_capacity() -> None:
    fleet = [
        InstanceSpec("fast", 10, performance_score=4.0),
        InstanceSpec("slow", 10, performance_score=1.0),
    ]
    # Proportional shares 16 / 4 would overflow "fast": it fills to 10, "slow" takes the rest.
    assert compute_targets(fleet, 20, BalanceStrategy.PERFORMANCE) == {"fast": 10, "slow": 10}
    assert compute_targets(fleet, 10, BalanceStrategy.PERFORMANCE) == {"fast": 8, "slow": 2}
    assert compute_targets(fleet, 10, BalanceStrategy.CAPACITY) == {"fast": 5, "slow": 5}


def test_performance_scores_are_clipped_to_a_positive_range() -> None:
    assert clip_performance_score(0.0) == PERFORMANCE_SCORE_MIN
    assert clip_performance_score(-3.0) == PERFORMANCE_SCORE_MIN
    assert clip_performance_score(1e9) == PERFORMANCE_SCORE_MAX
    assert clip_performance_score(math.inf) == PERFORMANCE_SCORE_MAX
    assert clip_performance_score(math.nan) == 1.0
    assert clip_performance_score(2.5) == 2.5
    fleet = [
        InstanceSpec("dead-score", 100, performance_score=0.0),
        InstanceSpec("normal", 100, performance_score=1.0),
    ]
    # 0.0 clips to 0.1: the instance still gets a (small) share instead of none.
    assert compute_targets(fleet, 110, BalanceStrategy.PERFORMANCE) == {
        "dead-score": 10,
        "normal": 100,
    }


def test_apportion_validates_lengths() -> None:
    with pytest.raises(ValueError, match="same length"):
        apportion(3, [1, 2], [1])


def test_level_fill_raises_the_lowest_first_and_respects_bounds() -> None:
    base = np.array([10, 10, 10], dtype=np.int64)
    low = np.array([2, 8, 12], dtype=np.int64)
    high = np.array([20, 20, 20], dtype=np.int64)
    # Level -3 gives 7/8/12 = 27; one more unit goes to the lowest index that can grow.
    assert level_fill(base, low, high, 28).tolist() == [8, 8, 12]
    assert level_fill(base, low, high, 22).tolist() == [2, 8, 12]
    assert level_fill(base, low, high, 60).tolist() == [20, 20, 20]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(-2, 300),
    st.lists(
        st.tuples(
            st.integers(-1, 60) | st.integers(1, 10**12),
            st.integers(0, 40) | st.integers(1, 10**9),
            st.integers(0, 60),
        ),
        max_size=10,
    ),
)
def test_array_apportion_gives_the_same_targets_as_the_list_version(
    total: int, rows: list[tuple[int, int, int]]
) -> None:
    capacities = [c for c, _, _ in rows]
    weights = [w for _, w, _ in rows]
    held = [h for _, _, h in rows]
    expected = apportion(total, capacities, weights, held)
    arrays = [np.array(values, dtype=np.int64) for values in (capacities, weights, held)]
    assert apportion_array(total, *arrays).tolist() == expected
