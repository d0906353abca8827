"""The chance-alignment score: a true upper bound on the Poisson tail, and the direction each
statistic moves it (more aligned hashes up; a bigger catalog or more chance hits down)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import poisson

from fingerv7.core.fingerprint.significance import chance_alignment_score, log10_poisson_tail


# No deadline: the first scipy call can take 300 ms on a loaded machine (flaky, not slow).
@settings(deadline=None)
@given(count=st.integers(1, 400), mean=st.floats(1e-4, 50.0))
def test_tail_bound_is_an_upper_bound_and_tight_far_in_the_tail(count: int, mean: float) -> None:
    exact = poisson.logsf(count - 1, mean) / math.log(10)
    bound = log10_poisson_tail(count, mean)
    assert bound >= exact - 1e-9
    if count > 2 * mean + 5 and exact > -300:
        assert bound - exact < 0.31  # within a factor of 2


def test_nothing_to_bound() -> None:
    assert log10_poisson_tail(0, 3.0) == 0.0
    assert log10_poisson_tail(3, 0.0) == -math.inf
    assert log10_poisson_tail(3, 10.0) == 0.0  # not in the tail at all
    assert chance_alignment_score(10, 0, 1000, 2, 13) == 0.0
    assert chance_alignment_score(10, 100, 0, 2, 13) == 0.0


def test_score_moves_the_right_way() -> None:
    base = chance_alignment_score(20, 2000, 500_000, 2, 13)
    assert chance_alignment_score(30, 2000, 500_000, 2, 13) > base
    assert chance_alignment_score(20, 20_000, 500_000, 2, 13) < base  # a query of common hashes
    # a catalog 100 times bigger: the query's hashes hit 100 times more entries
    assert chance_alignment_score(20, 200_000, 50_000_000, 2, 13) < base
    assert chance_alignment_score(20, 2000, 500_000, 2, 1) > base  # fewer hypotheses tested


@pytest.mark.parametrize("frames", [10_000, 1_000_000, 100_000_000])
def test_few_aligned_hashes_are_enough_when_hits_are_rare(frames: int) -> None:
    """With hits spread as thin as a real query's, a dozen aligned hashes are far beyond chance
    even in a very large catalog: why short, sparse tracks can match."""
    hits_per_frame = 0.02
    assert chance_alignment_score(12, int(hits_per_frame * frames), frames, 2, 13) > 6
