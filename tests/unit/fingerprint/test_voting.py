"""Offset voting: the cells that can decide an answer are counted exactly, whatever is dropped
before the sort to save time."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fingerv7.core.fingerprint.matching import _cell_scores, _may_reach

# Few distinct keys, so that cells of many hits and neighbouring keys are common.
key_lists = st.lists(st.integers(0, 60), min_size=0, max_size=300)


def _exact_cells(keys: list[int]) -> dict[int, int]:
    """Each cell's hits (its key and the key after it), counted the slow, obvious way."""
    counts: dict[int, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return {key: count + counts.get(key + 1, 0) for key, count in counts.items()}


@settings(max_examples=200, deadline=None)
@given(key_lists, st.integers(1, 12))
def test_every_cell_that_reaches_the_floor_keeps_its_exact_count(
    keys: list[int], floor: int
) -> None:
    array = np.array(keys, dtype=np.int64)
    kept = array[_may_reach(array, floor)]
    unique_keys, scores = _cell_scores(kept)
    counted = dict(zip(unique_keys.tolist(), scores.tolist(), strict=True))
    for key, exact in _exact_cells(keys).items():
        if exact >= floor:
            assert counted.get(key) == exact
        else:
            assert counted.get(key, 0) <= exact


def test_most_lone_chance_hits_are_dropped() -> None:
    """The point of the mask: a million keys that are nearly all alone in their cell, plus one
    cell of 20 hits, leave that cell and few others."""
    rng = np.random.default_rng(3)
    keys = np.concatenate([rng.integers(0, 1 << 50, 1_000_000), np.full(20, 12345)])
    kept = keys[_may_reach(keys, 8)]
    assert np.count_nonzero(kept == 12345) == 20
    assert kept.size < 0.02 * keys.size
