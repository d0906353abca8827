"""Offset voting: the cells that can decide an answer are counted exactly, whatever is dropped
before the sort to save time."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingerv7.core.fingerprint import voting
from fingerv7.core.fingerprint.index import HashPostings
from fingerv7.core.fingerprint.voting import Votes, cell_scores, may_reach

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
    kept = array[may_reach(array, floor)]
    unique_keys, scores = cell_scores(kept)
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
    kept = keys[may_reach(keys, 8)]
    assert np.count_nonzero(kept == 12345) == 20
    assert kept.size < 0.02 * keys.size


def _brute_force_keys(
    hits: HashPostings, anchor_frames: list[int], hypotheses: list[int], bin_frames: int
) -> list:
    """Each hit's (key, offset, query position), computed from the definition of a cell key."""
    found = []
    for query, start, length in zip(
        hits.run_queries.tolist(), hits.run_starts.tolist(), hits.run_lengths.tolist(), strict=True
    ):
        for position in range(start, start + length):
            entry = int(hits.entries[position])
            track, frame = entry >> 32, entry & 0xFFFFFFFF
            variant = 0 if hits.entry_variants is None else int(hits.entry_variants[position])
            offset = frame - anchor_frames[query]
            offset_bin = min(max(offset // bin_frames + (1 << 21), 0), (1 << 22) - 1)
            key = (((track << 4 | variant) << 5 | hypotheses[query]) << 22) | offset_bin
            found.append((key, offset, query))
    return found


@st.composite
def hits_of_a_query(draw: st.DrawFn) -> tuple[HashPostings, list[int], list[int]]:
    """Entries of few tracks and frames (so cells of many hits are common), runs over them, and
    a query's anchor frames and hypotheses; with or without speed variants."""
    entry_count = draw(st.integers(1, 80))
    tracks = draw(st.lists(st.integers(0, 3), min_size=entry_count, max_size=entry_count))
    frames = draw(st.lists(st.integers(0, 12), min_size=entry_count, max_size=entry_count))
    entries = np.array([t << 32 | f for t, f in zip(tracks, frames, strict=True)], dtype=np.int64)
    variants = draw(
        st.none() | st.lists(st.integers(0, 2), min_size=entry_count, max_size=entry_count)
    )
    query_size = draw(st.integers(1, 30))
    anchor_frames = draw(st.lists(st.integers(0, 8), min_size=query_size, max_size=query_size))
    hypotheses = draw(st.lists(st.integers(0, 2), min_size=query_size, max_size=query_size))
    runs = draw(
        st.lists(
            st.tuples(
                st.integers(0, query_size - 1),
                st.integers(0, entry_count - 1),
                st.integers(0, entry_count),
            ),
            max_size=40,
        )
    )
    starts = [start for _, start, _ in runs]
    lengths = [min(length, entry_count - start) for _, start, length in runs]
    hits = HashPostings(
        run_queries=np.array([query for query, _, _ in runs], dtype=np.int64),
        run_starts=np.array(starts, dtype=np.int64),
        run_lengths=np.array(lengths, dtype=np.int64),
        entries=entries,
        entry_variants=None if variants is None else np.array(variants, dtype=np.uint8),
    )
    return hits, anchor_frames, hypotheses


def _check_votes(
    hits: HashPostings,
    anchor_frames: list[int],
    hypotheses: list[int],
    floor: int,
    bin_frames: int = 2,
) -> None:
    every_hit = _brute_force_keys(hits, anchor_frames, hypotheses, bin_frames)
    exact = _exact_cells([key for key, _, _ in every_hit])
    votes = Votes.count(
        np.array(anchor_frames, dtype=np.int64),
        np.array(hypotheses, dtype=np.int64),
        hits,
        bin_frames=bin_frames,
        floor=floor,
    )
    if votes is None:
        assert all(count < floor for count in exact.values())
        return
    counted = dict(zip(votes.unique_keys.tolist(), votes.scores.tolist(), strict=True))
    for key, count in exact.items():
        if count >= floor:
            assert counted.get(key) == count
        else:
            assert counted.get(key, 0) <= count
    kept = Counter(
        zip(
            votes.keys.tolist(), votes.offsets.tolist(), votes.query_positions.tolist(), strict=True
        )
    )
    assert kept <= Counter(every_hit)  # nothing kept that is not a hit, nor more often
    if floor <= 1:
        assert kept == Counter(every_hit)


@settings(max_examples=150, deadline=None)
@given(
    hits_of_a_query(),
    st.integers(0, 10),
    st.integers(0, 3),
    st.integers(1, 5),
    st.sampled_from([1, 4, 30, 1 << 18]),
)
def test_votes_read_from_index_runs_count_every_deciding_cell_exactly(
    query_hits: tuple[HashPostings, list[int], list[int]],
    floor: int,
    partition_size_bits: int,
    bin_frames: int,
    batch_hits: int,
) -> None:
    """With partitions of 1 to 8 hits forced (a real query's hold thousands), so that a cell
    whose two keys lie in different offset groups has them in different partitions: the
    strategy's offsets straddle bin 2**21, an offset group's edge. Batches of a few hits
    (a hypothesis each) as well as one batch for all. Offset bins of 1 to 5 frames: powers
    of two are binned by a shift, the others by a division, and negative offsets must floor
    alike."""
    real_sizes = voting._PARTITION_SIZE_BITS, voting._BATCH_HITS
    voting._PARTITION_SIZE_BITS, voting._BATCH_HITS = partition_size_bits, batch_hits
    try:
        _check_votes(*query_hits, floor, bin_frames)
    finally:
        voting._PARTITION_SIZE_BITS, voting._BATCH_HITS = real_sizes


@settings(max_examples=40, deadline=None)
@given(hits_of_a_query(), st.integers(0, 10))
def test_the_compiled_loops_run_as_python_count_the_same(
    query_hits: tuple[HashPostings, list[int], list[int]], floor: int
) -> None:
    """The loops Numba compiles, run as plain Python (`py_func`): the same expectations hold,
    so the compiled code is checked against its own source as well as the definition. NumPy
    warns where the bucket hash's product wraps, as it is meant to (compiled, it wraps
    silently)."""
    originals = {name: getattr(voting, name) for name in _COMPILED}
    try:
        for name, compiled in originals.items():
            setattr(voting, name, compiled.py_func)
        with np.errstate(over="ignore"):
            _check_votes(*query_hits, floor)
    finally:
        for name, compiled in originals.items():
            setattr(voting, name, compiled)


_COMPILED = (
    "_bucket",
    "_bucket_bits",
    "_hit",
    "_in_full_bucket",
    "_partition",
    "_place_hits",
    "_hits_in_full_buckets",
    "_keys_in_full_buckets",
)


def test_votes_drop_nearly_every_lone_chance_hit() -> None:
    """A million hits alone in their cells plus one cell of 20: that cell keeps its 20, and
    the rounds with other hashes leave almost nothing else to sort."""
    rng = np.random.default_rng(5)
    lone = rng.integers(0, 1 << 20, 1_000_000) << 32 | rng.integers(0, 1 << 20, 1_000_000)
    entries = np.concatenate([lone, np.full(20, (7 << 32) | 500)]).astype(np.int64)
    hits = HashPostings(
        run_queries=np.zeros(1, dtype=np.int64),
        run_starts=np.zeros(1, dtype=np.int64),
        run_lengths=np.array([entries.size], dtype=np.int64),
        entries=entries,
    )
    votes = Votes.count(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), hits, 2, 8)
    assert votes is not None
    assert votes.scores.max() == 20
    assert votes.keys.size < 100


def test_compile_now_compiles_every_loop_a_search_runs() -> None:
    """What the catalog's loader calls so the first identification does not compile. In a
    fresh process, so that loops compiled by other tests cannot stand in for it."""
    names = ("_place_hits", "_hits_in_full_buckets", "_keys_in_full_buckets")
    script = (
        "from fingerv7.core.fingerprint import voting\n"
        "voting.compile_now()\n"
        f"print([name for name in {names!r} if not getattr(voting, name).signatures])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", f"not compiled: {done.stdout.strip()}"


def test_threads_voting_at_once_each_get_their_own_counts() -> None:
    """The compiled loops release the GIL and reuse buffers from a pool: two threads counting
    different queries at the same time get what each gets alone."""
    rng = np.random.default_rng(11)

    def query_hits(track: int) -> HashPostings:
        lone = rng.integers(0, 1 << 20, 200_000) << 32 | rng.integers(0, 1 << 20, 200_000)
        cell = np.full(30, (track << 32) | 700)
        entries = np.concatenate([lone, cell]).astype(np.int64)
        return HashPostings(
            run_queries=np.zeros(1, dtype=np.int64),
            run_starts=np.zeros(1, dtype=np.int64),
            run_lengths=np.array([entries.size], dtype=np.int64),
            entries=entries,
        )

    def count(hits: HashPostings) -> tuple[list[int], list[int]]:
        votes = Votes.count(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), hits, 2, 8)
        assert votes is not None
        return votes.unique_keys.tolist(), votes.scores.tolist()

    queries = [query_hits(track) for track in (3, 4)]
    alone = [count(hits) for hits in queries]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(10):
            assert list(pool.map(count, queries)) == alone


@pytest.mark.parametrize(("cell", "floor"), [(256, 8), (300, 300), (600, 1000)])
def test_cells_past_what_one_byte_counts_keep_every_hit(cell: int, floor: int) -> None:
    """Bucket counts saturate at 255, and a floor above that is judged as 255: a cell of more
    hits than a byte counts is still kept whole, and counted exactly afterwards."""
    rng = np.random.default_rng(1)
    lone = rng.integers(0, 1 << 20, 50_000) << 32 | rng.integers(0, 1 << 20, 50_000)
    entries = np.concatenate([lone, np.full(cell, (7 << 32) | 500)]).astype(np.int64)
    hits = HashPostings(
        run_queries=np.zeros(1, dtype=np.int64),
        run_starts=np.zeros(1, dtype=np.int64),
        run_lengths=np.array([entries.size], dtype=np.int64),
        entries=entries,
    )
    votes = Votes.count(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), hits, 2, floor)
    if cell >= floor:
        assert votes is not None and int(votes.scores.max()) == cell
    else:
        assert votes is None or int(votes.scores.max()) < floor


@pytest.mark.parametrize(
    "broken",
    [
        {"run_starts": np.array([3], dtype=np.int64)},  # the run ends past the entries
        {"run_queries": np.array([5], dtype=np.int64)},  # no such query position
        {"run_lengths": np.array([-1], dtype=np.int64)},
        {"entry_variants": np.zeros(2, dtype=np.uint8)},  # fewer variants than entries
    ],
)
def test_postings_that_point_outside_their_arrays_are_refused(broken: dict) -> None:
    """The compiled loops do not check bounds: the runs are checked before they read."""
    hits = HashPostings(
        run_queries=np.zeros(1, dtype=np.int64),
        run_starts=np.zeros(1, dtype=np.int64),
        run_lengths=np.array([4], dtype=np.int64),
        entries=np.full(4, (1 << 32) | 9, dtype=np.int64),
    )
    with pytest.raises(ValueError, match="postings do not fit"):
        Votes.count(
            np.zeros(1, dtype=np.int64),
            np.zeros(1, dtype=np.int64),
            replace(hits, **broken),
            2,
            2,
        )
