"""The in-memory index returns exactly the entries whose hash was asked for."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingerv7.core.fingerprint import HASH_BITS, HashIndex

entries = st.lists(
    st.tuples(st.integers(0, (1 << HASH_BITS) - 1), st.integers(1, 5000), st.integers(0, 10**6)),
    max_size=60,
)


def _as_index(rows: list[tuple[int, int, int]]) -> HashIndex:
    table = np.array(rows, dtype=np.int64).reshape(-1, 3)
    return HashIndex(table[:, 0], table[:, 1], table[:, 2])


@settings(max_examples=30, deadline=None)
@given(entries, st.lists(st.integers(-5, (1 << HASH_BITS) + 5), max_size=20))
def test_lookup_equals_brute_force(rows: list[tuple[int, int, int]], extra: list[int]) -> None:
    index = _as_index(rows)
    query = [row[0] for row in rows[::2]] + extra
    hits = index.lookup(query)
    found = sorted(
        zip(
            hits.query_positions.tolist(),
            hits.track_ids.tolist(),
            hits.frames.tolist(),
            strict=True,
        )
    )
    expected = sorted(
        (position, track, frame)
        for position, wanted in enumerate(query)
        for value, track, frame in rows
        if value == wanted
    )
    assert found == expected
    assert len(index) == len(rows)


@settings(max_examples=15, deadline=None)
@given(entries, entries)
def test_merge_and_remove_track(
    first: list[tuple[int, int, int]], second: list[tuple[int, int, int]]
) -> None:
    merged = _as_index(first).merged_with(_as_index(second))
    assert len(merged) == len(first) + len(second)
    if first:
        victim = first[0][1]
        remaining = merged.without_track(victim)
        assert victim not in remaining.track_ids
        assert len(remaining) == sum(1 for row in first + second if row[1] != victim)


def test_counts_given_to_lookup_must_match_the_query() -> None:
    index = HashIndex([5, 5, 9], [1, 2, 1], [0, 3, 4])
    counts = index.posting_counts([5, 9, 7])
    assert index.lookup([5, 9, 7], counts=counts).size == index.lookup([5, 9, 7]).size == 3
    with pytest.raises(ValueError, match="one entry per query hash"):
        index.lookup([5, 9, 7], counts=counts[:2])


def test_hashes_wider_than_the_layout_are_rejected() -> None:
    with pytest.raises(ValueError, match="bits"):
        HashIndex([1 << HASH_BITS], [1], [0])


few_tracks = st.lists(
    st.tuples(st.integers(0, 8), st.integers(1, 3), st.integers(0, 10**6)),
    max_size=80,
)


@settings(max_examples=40, deadline=None)
@given(few_tracks, st.lists(st.integers(-2, 10), max_size=5))
def test_lookup_of_one_track_is_the_full_lookup_restricted_to_it(
    rows: list[tuple[int, int, int]], extra: list[int]
) -> None:
    """Same entries, same query positions, and the same hashes skipped as too common: a hash is
    common by its count in the whole index, not in the track."""
    index = _as_index(rows)
    query = [row[0] for row in rows[::2]] + extra
    for cap in (None, 1, 2, 3):
        everything = index.lookup(query, cap)
        for track in (1, 2, 3, 4):
            mine = index.lookup_tracks(query, [track], cap)
            of_track = everything.track_ids == track
            assert set(mine.track_ids.tolist()) <= {track}
            assert sorted(
                zip(mine.query_positions.tolist(), mine.frames.tolist(), strict=True)
            ) == sorted(
                zip(
                    everything.query_positions[of_track].tolist(),
                    everything.frames[of_track].tolist(),
                    strict=True,
                )
            )


@settings(max_examples=30, deadline=None)
@given(few_tracks, st.lists(st.integers(-2, 10), max_size=5))
def test_posting_counts_are_what_lookup_gathers(
    rows: list[tuple[int, int, int]], extra: list[int]
) -> None:
    index = _as_index(rows)
    query = [row[0] for row in rows[::2]] + extra
    for cap in (None, 1, 2, 3):
        counts = index.posting_counts(query, cap)
        gathered = np.bincount(index.lookup(query, cap).query_positions, minlength=len(query))
        assert counts.tolist() == gathered.tolist()
        for wanted, count in zip(query, counts.tolist(), strict=True):
            total = sum(1 for value, _, _ in rows if value == wanted)
            assert count == (0 if cap is not None and total > cap else total)


@settings(max_examples=40, deadline=None)
@given(few_tracks, st.lists(st.integers(-2, 10), max_size=5), st.lists(st.integers(0, 5)))
def test_lookup_of_several_tracks_is_the_full_lookup_restricted_to_them(
    rows: list[tuple[int, int, int]], extra: list[int], tracks: list[int]
) -> None:
    """Tracks absent from the index (0, 4, 5) add nothing; a track named twice counts once."""
    index = _as_index(rows)
    query = [row[0] for row in rows[::2]] + extra
    everything = index.lookup(query, 2)
    mine = index.lookup_tracks(query, tracks, 2)
    of_tracks = np.isin(everything.track_ids, tracks)
    assert sorted(
        zip(
            mine.query_positions.tolist(),
            mine.track_ids.tolist(),
            mine.frames.tolist(),
            strict=True,
        )
    ) == sorted(
        zip(
            everything.query_positions[of_tracks].tolist(),
            everything.track_ids[of_tracks].tolist(),
            everything.frames[of_tracks].tolist(),
            strict=True,
        )
    )


@pytest.mark.parametrize("track_id", [-1, 1 << 31])
def test_track_ids_that_do_not_fit_the_entry_layout_are_rejected(track_id: int) -> None:
    with pytest.raises(ValueError, match="track ids"):
        HashIndex([1], [track_id], [0])
