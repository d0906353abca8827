"""Offset voting: every hit a query's hashes get in the index votes for one cell (track, speed
variant, speed hypothesis, offset bin), and only cells that can decide an answer are counted.

At 1,000 hours of catalog a query's hashes hit about ten million entries, nearly all chance hits
alone in their cell, and counting them is most of a query's time. Compiled loops (Numba) read
the hits straight from the index's runs, never copying them out, and filter them in cache-sized
pieces:

1. each hit's cell key is computed and the hits are split into partitions by a hash of the key's
   track, hypothesis and offset group (1,024 offset bins), 16,000 to 32,000 hits each, into
   buffers kept from one query to the next (one set per CPU). This and step 2 take the hits a
   batch at a time: whole speed hypotheses (a cell never spans two), about 260,000 hits or
   one hypothesis's, so that a batch stays in the CPU's cache between the steps;
2. in each partition the hits are counted per bucket of a hash of their key, in a table that
   fits the CPU's cache, and a hit is kept when its bucket and a neighbouring one together
   reach the vote floor. A bucket can only overcount a cell, so no hit of a cell that reaches
   the floor is dropped (a cell that straddles two offset groups is kept whole);
3. rounds with other hashes drop most of the chance hits that merely shared a bucket, and the
   few left are sorted and counted exactly.

A plain table of counts for all ten million hits does not fit the cache, and each hit then
costs several cache misses: partitioning made the count about 3.5 times faster, and the whole
search at 1,000 hours about 10 times faster at p95 than the same work done in NumPy
(docs/fingerprint.md, "Voting in cache-sized partitions"); batches, runs read in index order
and offsets binned by a shift took another third off the voting ("Padding from other music").
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from fingerv7.core.fingerprint.index import (
    ENTRY_FRAME_BITS,
    ENTRY_FRAME_MASK,
    HashPostings,
    unpack_entries,
)

IntArray = npt.NDArray[np.int64]

# A cell's key: track << TRACK_SHIFT | variant | hypothesis | offset bin, biased non-negative.
OFFSET_BITS = 22
HYPOTHESIS_BITS = 5
VARIANT_BITS = 4
TRACK_SHIFT = OFFSET_BITS + HYPOTHESIS_BITS + VARIANT_BITS
_OFFSET_BIAS = 1 << (OFFSET_BITS - 1)
_OFFSET_LIMIT = (1 << OFFSET_BITS) - 1
_HYPOTHESIS_MASK = (1 << HYPOTHESIS_BITS) - 1
_VARIANT_MASK = (1 << VARIANT_BITS) - 1

# Fibonacci hashing spreads nearby keys apart. The partitions and each round of counting use
# their own odd multiplier, so two keys that share a bucket in one round rarely share one in
# the next.
_PARTITION_MULTIPLIER = 0x9E3779B97F4A7C15
_COUNT_MULTIPLIERS = (0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93)
_MOST_BUCKET_BITS = 22  # 4 MiB of one-byte counts
_PARTITION_SIZE_BITS = 15  # at most about 32,000 hits per partition: its table stays in cache
_GROUP_BITS = 10  # offset bins per group: a group's cells share a partition
_BATCH_HITS = 1 << 18  # hits placed and counted at a time, at most (but a hypothesis's all)
_SATURATED = 255
_NON_NEGATIVE = (1 << 63) - 1


def hypothesis_of(key: int) -> int:
    """The speed hypothesis of a cell key."""
    return (key >> OFFSET_BITS) & _HYPOTHESIS_MASK


def variant_of(key: int) -> int:
    """The reference speed variant of a cell key."""
    return (key >> (OFFSET_BITS + HYPOTHESIS_BITS)) & _VARIANT_MASK


def track_of_key(key: int) -> int:
    """The track id of a cell key."""
    return key >> TRACK_SHIFT


def tracks_of(keys: IntArray) -> IntArray:
    """The track id of each cell key."""
    tracks: IntArray = keys >> TRACK_SHIFT
    return tracks


@dataclass(frozen=True, slots=True)
class Votes:
    """The hits that may reach the vote floor, one key per (track, variant, hypothesis,
    offset bin), and the score of each distinct key (see :func:`cell_scores`)."""

    keys: IntArray
    offsets: IntArray
    query_positions: IntArray
    unique_keys: IntArray
    scores: IntArray

    @classmethod
    def count(
        cls,
        anchor_frames: IntArray,
        hypotheses: IntArray,
        hits: HashPostings,
        bin_frames: int,
        floor: int,
    ) -> Votes | None:
        """The votes of `hits`, where query position `q` has its anchor at `anchor_frames[q]`
        under speed hypothesis `hypotheses[q]`; None when no cell can reach `floor`. Raises
        ValueError when the runs point outside `hits.entries` or the query."""
        runs = _in_batch_order(_checked_runs(anchor_frames, hypotheses, hits))
        keys, ordinals = _dense_hits(runs, bin_frames, floor)
        if keys.size == 0:
            return None
        # A hit's ordinal numbers the hits run by run: find its run, entry and query position.
        run_queries, run_starts, run_lengths, entries, _, anchors, _ = runs
        run_ends = np.cumsum(run_lengths)
        run = np.searchsorted(run_ends, ordinals, side="right")
        entry = run_starts[run] + ordinals - (run_ends[run] - run_lengths[run])
        positions = run_queries[run]
        offsets = unpack_entries(entries[entry])[1] - anchors[positions]
        unique_keys, scores = cell_scores(keys)
        return cls(
            keys=keys,
            offsets=offsets,
            query_positions=positions,
            unique_keys=unique_keys,
            scores=scores,
        )

    def best_cell(self) -> int:
        return int(np.argmax(self.scores))

    def leading_tracks(self, count: int) -> list[int]:
        """The `count` tracks whose best cells score highest, best first."""
        by_score = self.cell_tracks()[np.argsort(-self.scores, kind="stable")]
        _, first_seen = np.unique(by_score, return_index=True)
        leading: list[int] = by_score[np.sort(first_seen)[:count]].tolist()
        return leading

    def cell_tracks(self) -> IntArray:
        return tracks_of(self.unique_keys)

    def track_of(self, cell: int) -> int:
        return track_of_key(int(self.unique_keys[cell]))


_Buffers = tuple[IntArray, npt.NDArray[np.int32]]


class _BufferPool:
    """Buffers for the partitioned hits, lent to one query at a time and kept for the next.

    A query at 1,000 hours partitions about ten million hits, 12 bytes each; fresh memory of
    that size is zeroed page by page by the kernel, which cost 40% of the partitioning. At most
    `kept` sets are kept (one per CPU: more queries than that do not run at once), each grown to
    the largest batch it served (:func:`_batches`; at most one speed hypothesis's hits): up to
    about 30 MB per CPU at 1,000 hours (2.4 million hits), where whole queries took 130 MB. A
    query that finds none free gets fresh ones."""

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._free: list[_Buffers] = []
        self._lock = threading.Lock()

    @contextmanager
    def lend(
        self, total: int, wide: bool = False
    ) -> Iterator[tuple[IntArray, npt.NDArray[np.signedinteger[Any]]]]:
        """Room for `total` hits' keys and ordinals: 4-byte ordinals, or 8-byte ones for a
        query of `wide` ordinals (2**31 hits or more)."""
        if wide or total >= 1 << 31:
            yield np.empty(total, dtype=np.int64), np.empty(total, dtype=np.int64)
            return
        with self._lock:
            lent = self._free.pop() if self._free else None
        if lent is None or lent[0].size < total:
            lent = (np.empty(total, dtype=np.int64), np.empty(total, dtype=np.int32))
        try:
            yield lent[0][:total], lent[1][:total]
        finally:
            with self._lock:
                if len(self._free) < self._kept:
                    self._free.append(lent)


_buffers = _BufferPool(kept=os.cpu_count() or 1)


def compile_now() -> None:
    """Compile the voting loops now (or load them from Numba's disk cache), so that the first
    identification does not pay for it: about 6 s of CPU without a cache, 0.2 s with one."""
    one_cell = HashPostings(
        run_queries=np.zeros(1, dtype=np.int64),
        run_starts=np.zeros(1, dtype=np.int64),
        run_lengths=np.array([2], dtype=np.int64),
        entries=np.full(2, 1 << ENTRY_FRAME_BITS, dtype=np.int64),
    )
    Votes.count(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), one_cell, 2, 2)


# Run queries, run starts, run lengths, entries, variants, anchor frames, hypotheses.
_Runs = tuple[IntArray, IntArray, IntArray, IntArray, npt.NDArray[np.uint8], IntArray, IntArray]


def _dense_hits(runs: _Runs, bin_frames: int, floor: int) -> tuple[IntArray, IntArray]:
    """(cell keys, ordinals) of the hits that may belong to a cell of `floor` hits: steps 1-3
    of the module's docstring, steps 1-2 a batch of runs at a time (:func:`_batches`)."""
    floor = min(floor, _SATURATED) if floor > 1 else 0  # 0: every hit counts
    bins = (int(bin_frames), _shift_for(int(bin_frames)))
    hits_before = np.concatenate(([0], np.cumsum(runs[2])))
    batches = _batches(runs, hits_before)
    largest = max((int(hits_before[end] - hits_before[first]) for first, end in batches), default=0)
    kept_keys_parts, kept_ordinals_parts = [], []
    with _buffers.lend(largest, wide=int(hits_before[-1]) >= 1 << 31) as (keys, ordinals):
        for first, end in batches:
            first_ordinal = int(hits_before[first])
            count = int(hits_before[end]) - first_ordinal
            batch_keys, batch_ordinals = keys[:count], ordinals[:count]
            partition_starts = _partitioned(
                _runs_between(runs, first, end), bins, batch_keys, batch_ordinals, first_ordinal
            )
            batch_keys, batch_ordinals = _hits_in_full_buckets(
                batch_keys, batch_ordinals, partition_starts, floor
            )
            kept_keys_parts.append(batch_keys)
            kept_ordinals_parts.append(batch_ordinals)
    if not batches:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    kept_keys, kept_ordinals = np.concatenate(kept_keys_parts), np.concatenate(kept_ordinals_parts)
    # Most hits kept so far only shared a bucket with other chance hits: another hash separates
    # them, and costs little on what is left.
    for multiplier in _COUNT_MULTIPLIERS[1:] if floor else ():
        kept = may_reach(kept_keys, floor, multiplier)
        if kept.all():
            break
        kept_keys, kept_ordinals = kept_keys[kept], kept_ordinals[kept]
    return kept_keys, kept_ordinals.astype(np.int64)


def _partitioned(
    runs: _Runs,
    bins: tuple[int, int],
    keys: IntArray,
    ordinals: npt.NDArray[np.signedinteger[Any]],
    first_ordinal: int,
) -> IntArray:
    """Step 1 for one batch: its hits' keys and ordinals written to `keys` and `ordinals`
    partition after partition; returns where each partition starts (and the end). Two passes:
    one sizes the partitions, the next fills them."""
    partition_bits = max(0, (keys.size - 1).bit_length() - _PARTITION_SIZE_BITS)
    sizes = np.zeros((1 << partition_bits) + 1, dtype=np.int64)
    bin_frames, bin_shift = bins
    _place_hits(
        *runs, bin_frames, bin_shift, sizes, partition_bits, keys, ordinals, first_ordinal, False
    )
    partition_starts = np.cumsum(sizes)
    slots = partition_starts[:-1].copy()
    _place_hits(
        *runs, bin_frames, bin_shift, slots, partition_bits, keys, ordinals, first_ordinal, True
    )
    return partition_starts


def _shift_for(bin_frames: int) -> int:
    """log2 of `bin_frames` when it is a power of two, else -1. Dividing by a variable costs
    the compiled loops a CPU division per hit, about 2 ns: at 1,000 hours, 14 ms of a query's
    two passes over 7 million hits, where a shift costs next to nothing."""
    if bin_frames < 1:
        raise ValueError("bin_frames must be at least 1")
    return bin_frames.bit_length() - 1 if bin_frames & (bin_frames - 1) == 0 else -1


def _in_batch_order(runs: _Runs) -> _Runs:
    """The runs by speed hypothesis, then by where they start in the index.

    By hypothesis, so that :func:`_batches` can cut them into batches no cell straddles (a
    cell's key holds its hypothesis). Then in index order: a query reads most runs more than
    once (at 1,000 hours, 13,800 runs start at 5,300 places: the same hash at several anchors),
    and in index order a repeat is read from the cache and the reads sweep the entries forward.
    That alone took filling the partitions from 78 to 57 ms per query.

    Runs of one batch's hits or fewer are left as they are: they make one batch whatever their
    order, and sorting them would cost more than it saves (1.4 ms of a 20 ms query at 2.35 h)."""
    run_queries, run_starts, run_lengths, *rest = runs
    if int(run_lengths.sum()) <= _BATCH_HITS:
        return runs
    order = np.lexsort((run_starts, runs[6][run_queries]))
    return (run_queries[order], run_starts[order], run_lengths[order], *rest)  # type: ignore[return-value]


def _runs_between(runs: _Runs, first: int, end: int) -> _Runs:
    """Runs `first` to `end` (the arrays they point into unchanged)."""
    run_queries, run_starts, run_lengths, entries, variants, anchors, hypotheses = runs
    return (
        run_queries[first:end],
        run_starts[first:end],
        run_lengths[first:end],
        entries,
        variants,
        anchors,
        hypotheses,
    )


def _batches(runs: _Runs, hits_before: IntArray) -> list[tuple[int, int]]:
    """(first run, end run) of each batch: whole hypotheses, merged while their hits stay under
    `_BATCH_HITS`. A batch's keys and ordinals (12 bytes a hit: 3 MB for 260,000, 12 MB for a
    hypothesis's million at 1,000 hours) stay in the CPU's cache from being placed in
    partitions to being counted, where the 7 million hits of a query at 1,000 hours, placed at
    once, are written to memory and read back; and the fewer partitions a batch needs, the
    fewer places its hits are written to at a time."""
    hypothesis_of_run = runs[6][runs[0]]
    edges = [0, *(np.flatnonzero(np.diff(hypothesis_of_run)) + 1).tolist(), len(runs[0])]
    batches: list[tuple[int, int]] = []
    for start, end in pairwise(edges):
        if end == start:
            continue
        if batches and hits_before[end] - hits_before[batches[-1][0]] <= _BATCH_HITS:
            batches[-1] = (batches[-1][0], end)
        else:
            batches.append((start, end))
    return batches


def _checked_runs(anchor_frames: IntArray, hypotheses: IntArray, hits: HashPostings) -> _Runs:
    """The arrays the compiled loops read, as contiguous int64 (variants uint8, empty when
    none), after checking that every index they will follow is in range: compiled code does
    not check bounds, and a malformed `HashPostings` would read stray memory."""
    run_queries, run_starts, run_lengths, entries, anchors, query_hypotheses = (
        np.ascontiguousarray(values, dtype=np.int64)
        for values in (
            hits.run_queries,
            hits.run_starts,
            hits.run_lengths,
            hits.entries,
            anchor_frames,
            hypotheses,
        )
    )
    variants = (
        np.zeros(0, dtype=np.uint8)
        if hits.entry_variants is None
        else np.ascontiguousarray(hits.entry_variants, dtype=np.uint8)
    )
    if not (
        run_queries.size == run_starts.size == run_lengths.size
        and anchors.size == query_hypotheses.size
        and variants.size in (0, entries.size)
        and (run_lengths >= 0).all()
        and (run_starts >= 0).all()
        and (run_starts + run_lengths <= entries.size).all()
        and ((run_queries >= 0) & (run_queries < anchors.size)).all()
    ):
        raise ValueError("postings do not fit the index entries or the query they claim")
    return run_queries, run_starts, run_lengths, entries, variants, anchors, query_hypotheses


def cell_scores(keys: IntArray) -> tuple[IntArray, IntArray]:
    """Distinct (candidate, offset bin) keys and each one's count plus its right-hand
    neighbour's: speed drift smears a true peak over neighbouring offset bins, and this counts
    the smear once instead of splitting it."""
    ordered = np.sort(keys)
    first_of_run = np.flatnonzero(np.concatenate(([ordered.size > 0], ordered[1:] != ordered[:-1])))
    unique_keys = ordered[first_of_run]
    counts = np.diff(np.append(first_of_run, ordered.size))
    # Keys are sorted and distinct, so a key's right-hand neighbour (key + 1), when present, is
    # the next one: no search needed.
    neighbour_counts = np.zeros_like(counts)
    adjacent = unique_keys[1:] == unique_keys[:-1] + 1
    neighbour_counts[:-1][adjacent] = counts[1:][adjacent]
    return unique_keys, counts + neighbour_counts


def may_reach(
    keys: IntArray, floor: int, multiplier: int = _COUNT_MULTIPLIERS[0]
) -> npt.NDArray[np.bool_]:
    """Mask of the keys that may belong to a cell (a key and its right-hand neighbour) of at
    least `floor` hits, judged by counting keys per bucket of a hash of the key (`multiplier`).

    A bucket's count can only overcount a key's, so no key of such a cell is dropped, and a
    cell's count is exact after the mask."""
    if floor <= 1 or keys.size == 0:
        return np.ones(keys.size, dtype=bool)
    bits = _bucket_bits(keys.size)
    mask: npt.NDArray[np.bool_] = _keys_in_full_buckets(
        np.ascontiguousarray(keys, dtype=np.int64),
        bits,
        np.uint64(multiplier),
        min(floor, _SATURATED),
    )
    return mask


# The compiled loops. Kept small and plain (Numba compiles a subset of Python); each is also
# run as Python by the tests (`.py_func`), against the same expectations.
_jit = numba.njit(cache=True, nogil=True)  # compiled on first call, cached on disk


@_jit
def _bucket_bits(count: int) -> int:
    """About four buckets per key up to 4 Mi buckets (then fewer): a key shares its bucket, or
    a neighbour's, with another less often, so fewer lone hits survive a round."""
    bits = 1
    while (1 << bits) < count:
        bits += 1
    return max(bits, min(bits + 2, _MOST_BUCKET_BITS))


@_jit
def _bucket(key: int, multiplier: np.uint64, bits: int) -> np.int64:
    # The product wraps modulo 2**64 (Fibonacci hashing takes its top bits). Key -1, the
    # neighbour asked for of key 0, is never a hit's key, so any bucket will do for it.
    return np.int64((np.uint64(key & _NON_NEGATIVE) * multiplier) >> np.uint64(64 - bits))


@_jit
def _hit(
    entry: int, variant: int, anchor_frame: int, hypothesis: int, bin_frames: int, bin_shift: int
) -> tuple[int, int]:
    """A hit's cell key and offset (reference frame minus query frame). `bin_shift` is
    `_shift_for(bin_frames)`: a shift floors as `//` does, negative offsets included."""
    offset = (entry & ENTRY_FRAME_MASK) - anchor_frame
    offset_bin = offset >> bin_shift if bin_shift >= 0 else offset // bin_frames
    offset_bin = min(max(offset_bin + _OFFSET_BIAS, 0), _OFFSET_LIMIT)
    candidate = ((entry >> ENTRY_FRAME_BITS) << VARIANT_BITS | variant) << HYPOTHESIS_BITS
    return (candidate | hypothesis) << OFFSET_BITS | offset_bin, offset


@_jit
def _in_full_bucket(
    key: int, counts: npt.NDArray[np.uint8], bits: int, multiplier: np.uint64, floor: int
) -> bool:
    """Whether the cell starting at `key`, or the one ending at it, may hold `floor` keys."""
    here = int(counts[_bucket(key, multiplier, bits)])
    after = int(counts[_bucket(key + 1, multiplier, bits)])
    before = int(counts[_bucket(key - 1, multiplier, bits)])
    return here + after >= floor or before + here >= floor


@_jit
def _place_hits(
    run_queries: IntArray,
    run_starts: IntArray,
    run_lengths: IntArray,
    entries: IntArray,
    variants: npt.NDArray[np.uint8],
    anchor_frames: IntArray,
    hypotheses: IntArray,
    bin_frames: int,
    bin_shift: int,
    slots: IntArray,
    partition_bits: int,
    keys: IntArray,
    ordinals: npt.NDArray[np.signedinteger[Any]],
    first_ordinal: int,
    fill: bool,
) -> None:
    """One pass over the hits, each with its cell key and ordinal (its number counting hits run
    by run, from `first_ordinal`), in `2**partition_bits` partitions by a hash of the key's
    offset group. Without `fill`, counts each partition's hits in `slots[p + 1]`; with it,
    writes each hit's key and ordinal at `slots[p]` and advances it."""
    with_variants = variants.size > 0
    ordinal = first_ordinal
    for run in range(run_starts.size):
        query = run_queries[run]
        anchor, hypothesis = anchor_frames[query], hypotheses[query]
        for position in range(run_starts[run], run_starts[run] + run_lengths[run]):
            variant = int(variants[position]) if with_variants else 0
            key, _ = _hit(entries[position], variant, anchor, hypothesis, bin_frames, bin_shift)
            partition = _partition(key, partition_bits)
            if fill:
                keys[slots[partition]] = key
                ordinals[slots[partition]] = ordinal
                slots[partition] += 1
            else:
                slots[partition + 1] += 1
            ordinal += 1


@_jit
def _partition(key: int, partition_bits: int) -> np.int64:
    if partition_bits == 0:
        return np.int64(0)
    return _bucket(key >> _GROUP_BITS, np.uint64(_PARTITION_MULTIPLIER), partition_bits)


@_jit
def _hits_in_full_buckets(
    keys: IntArray,
    ordinals: npt.NDArray[np.signedinteger[Any]],
    partition_starts: IntArray,
    floor: int,
) -> tuple[IntArray, npt.NDArray[np.signedinteger[Any]]]:
    """The hits (keys, ordinals) of each partition that pass :func:`_in_full_bucket` on their
    partition's counts; with a `floor` of 0, all. A key at the edge of its offset group has
    its neighbour in another partition: it is kept (an overcount, never a loss)."""
    if floor <= 0:
        return keys.copy(), ordinals.copy()
    multiplier = np.uint64(_COUNT_MULTIPLIERS[0])
    largest = int(np.max(np.diff(partition_starts)))
    counts = np.zeros(1 << _bucket_bits(max(largest, 1)), dtype=np.uint8)
    kept = 0
    last_in_group = (1 << _GROUP_BITS) - 1
    for partition in range(partition_starts.size - 1):
        first, end = partition_starts[partition], partition_starts[partition + 1]
        if end == first:
            continue
        bits = _bucket_bits(end - first)
        counts[: 1 << bits] = 0
        for number in range(first, end):
            bucket = _bucket(keys[number], multiplier, bits)
            if counts[bucket] < _SATURATED:
                counts[bucket] += 1
        for number in range(first, end):
            key = keys[number]
            in_group = key & last_in_group
            if (
                in_group == 0
                or in_group == last_in_group
                or _in_full_bucket(key, counts, bits, multiplier, floor)
            ):
                keys[kept], ordinals[kept] = key, ordinals[number]
                kept += 1
    return keys[:kept].copy(), ordinals[:kept].copy()


@_jit
def _keys_in_full_buckets(
    keys: IntArray, bits: int, multiplier: np.uint64, floor: int
) -> npt.NDArray[np.bool_]:
    counts = np.zeros(1 << bits, dtype=np.uint8)
    for key in keys:
        bucket = _bucket(key, multiplier, bits)
        if counts[bucket] < _SATURATED:
            counts[bucket] += 1
    kept = np.empty(keys.size, dtype=np.bool_)
    for number in range(keys.size):
        kept[number] = _in_full_bucket(keys[number], counts, bits, multiplier, floor)
    return kept
