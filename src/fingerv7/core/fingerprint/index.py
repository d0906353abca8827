"""An in-memory inverted index from hash to (track, speed variant, anchor frame).

Built once from the catalog (database rows or freshly computed fingerprints) and then read by
every identification: a sorted array and `searchsorted` answer a whole query's lookups in one
vectorised pass, far faster than asking the database per query (see docs/fingerprint.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fingerv7.core.fingerprint.hashing import ANCHOR_BIN_BITS, HASH_BITS, anchor_bins_of

IntArray = npt.NDArray[np.int64]

# An entry is one int64: track id << ENTRY_FRAME_BITS | anchor frame.
ENTRY_FRAME_BITS = 32
_HELD_BITS = 21
ENTRY_FRAME_MASK = (1 << ENTRY_FRAME_BITS) - 1
_RADIX_BITS = 16
_RADIX_MASK = (1 << _RADIX_BITS) - 1


@dataclass(frozen=True, slots=True)
class HashPostings:
    """Index entries matched by a query, as runs of an entry array rather than copies of them.

    Run `r` is `entries[run_starts[r] : run_starts[r] + run_lengths[r]]`, every entry of the
    query hash at position `run_queries[r]`. An entry packs its track and anchor frame
    (:func:`unpack_entries`); `entry_variants`, aligned with `entries`, holds each entry's speed
    variant, or is None when every entry is variant 0. A whole-catalog lookup shares the index's
    own arrays: at 1,000 hours a query matches about ten million entries, and the vote reads
    each of them once instead of copying them out first (docs/fingerprint.md).
    """

    run_queries: IntArray
    run_starts: IntArray
    run_lengths: IntArray
    entries: IntArray
    entry_variants: npt.NDArray[np.uint8] | None = None

    @property
    def size(self) -> int:
        """How many entries were matched."""
        return int(self.run_lengths.sum())

    @property
    def query_positions(self) -> IntArray:
        """The query position of each matched entry, run by run."""
        return np.repeat(self.run_queries, self.run_lengths)

    @property
    def track_ids(self) -> IntArray:
        return unpack_entries(self.entries[self._positions()])[0]

    @property
    def frames(self) -> IntArray:
        return unpack_entries(self.entries[self._positions()])[1]

    @property
    def variants(self) -> IntArray:
        if self.entry_variants is None:
            return np.zeros(self.size, dtype=np.int64)
        return self.entry_variants[self._positions()].astype(np.int64)

    def _positions(self) -> IntArray:
        return _expand_runs(self.run_starts, self.run_lengths)[1]


def unpack_entries(entries: IntArray) -> tuple[IntArray, IntArray]:
    """(track ids, anchor frames) of packed index entries."""
    return entries >> ENTRY_FRAME_BITS, entries & ENTRY_FRAME_MASK


class HashLookup(Protocol):
    """Anything that finds the entries for a batch of query hashes (memory or database).

    `frame_count` is the length of the indexed audio in frames (the sum over tracks of the last
    anchor frame + 1): the number of places a chance alignment could occur, which the matcher
    needs to say how unlikely an alignment is.
    """

    @property
    def frame_count(self) -> int: ...

    def lookup(
        self,
        query_hashes: npt.ArrayLike,
        max_postings_per_hash: int | None = None,
        counts: IntArray | None = None,
    ) -> HashPostings: ...

    def lookup_tracks(
        self,
        query_hashes: npt.ArrayLike,
        track_ids: Sequence[int],
        max_postings_per_hash: int | None = None,
    ) -> HashPostings: ...

    def posting_counts(
        self, query_hashes: npt.ArrayLike, max_postings_per_hash: int | None = None
    ) -> IntArray: ...

    def anchor_peaks(
        self, track_id: int, first_frame: int, end_frame: int
    ) -> tuple[IntArray, IntArray]: ...


class HashIndex:
    """Immutable; entries sorted by hash behind a direct-address table of run starts.

    Hashes have only :data:`HASH_BITS` bits, so `starts[h]:starts[h + 1]` locates a hash's run
    with no search at all; (track, frame) are packed in one int64 so a lookup gathers from one
    array. A second order, by track, finds one track's entries without reading the others
    (:meth:`lookup_tracks`). Memory: 12 bytes per entry plus a fixed 64 MiB table (1 more byte
    per entry when speed variants are used).
    """

    __slots__ = (
        "_by_track",
        "_entries",
        "_frame_count",
        "_starts",
        "_track_ids",
        "_track_starts",
        "_variants",
    )

    def __init__(
        self,
        hashes: npt.ArrayLike,
        track_ids: npt.ArrayLike,
        frames: npt.ArrayLike,
        variants: npt.ArrayLike | None = None,
    ) -> None:
        hash_array = np.asarray(hashes, dtype=np.int64)
        if hash_array.size and (hash_array.min() < 0 or hash_array.max() >= 1 << HASH_BITS):
            raise ValueError(f"hashes must fit in {HASH_BITS} bits")
        order = np.argsort(hash_array, kind="stable")
        counts = np.bincount(hash_array, minlength=1 << HASH_BITS)
        # 2**24 run starts: 4 bytes each while the entries' positions fit (64 MiB).
        starts_type = np.uint32 if hash_array.size < 1 << 32 else np.int64
        self._starts = np.zeros(counts.size + 1, dtype=starts_type)
        np.cumsum(counts, dtype=starts_type, out=self._starts[1:])
        tracks = np.asarray(track_ids, dtype=np.int64)[order]
        frame_array = np.asarray(frames, dtype=np.int64)[order]
        self._entries = (tracks << ENTRY_FRAME_BITS) | (frame_array & ENTRY_FRAME_MASK)
        self._frame_count = track_frame_count(tracks, frame_array)
        variant_array = None if variants is None else np.asarray(variants, dtype=np.uint8)
        self._variants = (
            None if variant_array is None or not variant_array.any() else variant_array[order]
        )
        self._track_ids, self._track_starts, self._by_track = _grouped_by_track(tracks)

    @classmethod
    def empty(cls) -> HashIndex:
        return cls(np.zeros(0), np.zeros(0), np.zeros(0))

    def __len__(self) -> int:
        return int(self._entries.size)

    @property
    def frame_count(self) -> int:
        return self._frame_count

    @property
    def nbytes(self) -> int:
        """Memory held by the index arrays."""
        variants = 0 if self._variants is None else self._variants.nbytes
        by_track = self._by_track.nbytes + self._track_ids.nbytes + self._track_starts.nbytes
        return int(self._entries.nbytes + self._starts.nbytes + variants + by_track)

    @property
    def track_ids(self) -> frozenset[int]:
        return frozenset(self._track_ids.tolist())

    def columns(self) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """Every entry as (hash, track, frame, speed variant), sorted by hash."""
        hashes = np.repeat(np.arange(1 << HASH_BITS, dtype=np.int64), np.diff(self._starts))
        variants = (
            np.zeros(self._entries.size, dtype=np.int64)
            if self._variants is None
            else self._variants.astype(np.int64)
        )
        return (hashes, *unpack_entries(self._entries), variants)

    def merged_with(self, other: HashIndex) -> HashIndex:
        """A new index holding both; for adding a few tracks without reloading the catalog."""
        mine, theirs = self.columns(), other.columns()
        hashes, tracks, frames, variants = (
            np.concatenate([a, b]) for a, b in zip(mine, theirs, strict=True)
        )
        return HashIndex(hashes, tracks, frames, variants)

    def without_track(self, track_id: int) -> HashIndex:
        hashes, tracks, frames, variants = self.columns()
        keep = tracks != track_id
        return HashIndex(hashes[keep], tracks[keep], frames[keep], variants[keep])

    def posting_counts(
        self, query_hashes: npt.ArrayLike, max_postings_per_hash: int | None = None
    ) -> IntArray:
        """How many entries each query hash has in the whole index; 0 for a hash skipped as too
        common (more than `max_postings_per_hash`) or out of range. Costs no gathering."""
        wanted = np.asarray(query_hashes, dtype=np.int64)
        valid = (wanted >= 0) & (wanted < 1 << HASH_BITS)
        keys = np.where(valid, wanted, 0)
        counts = np.where(valid, self._starts[keys + 1].astype(np.int64) - self._starts[keys], 0)
        if max_postings_per_hash is not None:
            counts[counts > max_postings_per_hash] = 0
        return counts

    def lookup(
        self,
        query_hashes: npt.ArrayLike,
        max_postings_per_hash: int | None = None,
        counts: IntArray | None = None,
    ) -> HashPostings:
        """Every entry whose hash equals one of `query_hashes`, tagged with that query position.

        Hashes with more than `max_postings_per_hash` entries are skipped: they say little
        about which track it is and would dominate the cost of voting. `counts`, when given,
        is what :meth:`posting_counts` answered for the same arguments: reading the table of
        2**24 run starts costs a cache miss per hash (3-4 ms for a query's 240,000), not
        worth paying twice.
        """
        wanted = np.asarray(query_hashes, dtype=np.int64)
        if counts is None:
            counts = self.posting_counts(wanted, max_postings_per_hash)
        elif counts.shape != wanted.shape:
            raise ValueError("counts must have one entry per query hash")
        found = np.flatnonzero(counts)
        return HashPostings(
            run_queries=found,
            run_starts=self._starts[wanted[found]].astype(np.int64),
            run_lengths=counts[found],
            entries=self._entries,
            entry_variants=self._variants,
        )

    def lookup_tracks(
        self,
        query_hashes: npt.ArrayLike,
        track_ids: Sequence[int],
        max_postings_per_hash: int | None = None,
    ) -> HashPostings:
        """What :meth:`lookup` would return, restricted to the entries of a few tracks, in a
        time that grows with those tracks' length, not with the catalog.

        The same hashes are skipped as in :meth:`lookup` (by their count in the whole index),
        so votes counted on the result are these tracks' votes in a full lookup.
        """
        wanted = np.asarray(query_hashes, dtype=np.int64)
        positions = self._positions_of_tracks(track_ids)
        # Entries are sorted by hash, so ascending positions have ascending hashes.
        hashes = self._hashes_at(positions)
        # Most of a query's hashes are not among a few tracks' thousands: a table of the
        # tracks' hash values (their top bits, so it stays 2 MiB) finds the few that may be
        # before any search.
        held = np.zeros(1 << _HELD_BITS, dtype=bool)
        held[hashes >> (HASH_BITS - _HELD_BITS)] = True
        valid = (wanted >= 0) & (wanted < 1 << HASH_BITS)
        top_bits = np.where(valid, wanted, 0) >> (HASH_BITS - _HELD_BITS)
        asked = np.flatnonzero(valid & held[top_bits])
        asked = asked[self.posting_counts(wanted[asked], max_postings_per_hash) > 0]
        first = np.searchsorted(hashes, wanted[asked], side="left")
        counts = np.searchsorted(hashes, wanted[asked], side="right") - first
        found = np.flatnonzero(counts)
        # The tracks' entries are copied (a few thousand), in hash order, so each query hash's
        # entries among them are one run.
        return HashPostings(
            run_queries=asked[found],
            run_starts=first[found],
            run_lengths=counts[found],
            entries=self._entries[positions],
            entry_variants=None if self._variants is None else self._variants[positions],
        )

    def anchor_peaks(
        self, track_id: int, first_frame: int, end_frame: int
    ) -> tuple[IntArray, IntArray]:
        """The distinct anchor peaks (frame, bin) of one track's entries with a frame in
        `[first_frame, end_frame)`, ordered by frame then bin: the reference's peaks there, for
        checking an alignment peak by peak (:mod:`fingerv7.core.fingerprint.verification`)."""
        positions = self._positions_of_tracks([track_id])
        frames = unpack_entries(self._entries[positions])[1]
        inside = (frames >= first_frame) & (frames < end_frame)
        hashes = self._hashes_at(positions[inside])
        anchor_bins = anchor_bins_of(hashes)
        peaks = np.unique(frames[inside] << ANCHOR_BIN_BITS | anchor_bins)
        return peaks >> ANCHOR_BIN_BITS, peaks & ((1 << ANCHOR_BIN_BITS) - 1)

    def _hashes_at(self, positions: IntArray) -> IntArray:
        """The hash of each entry position (in the starts' own type: searchsorted would
        otherwise copy the whole table to compare)."""
        wanted = positions.astype(self._starts.dtype)
        hashes: IntArray = np.searchsorted(self._starts, wanted, side="right").astype(np.int64) - 1
        return hashes

    def _positions_of_tracks(self, track_ids: Sequence[int]) -> IntArray:
        """Positions of the tracks' entries, ascending (so in hash order)."""
        wanted = np.unique(np.asarray(track_ids, dtype=np.int64))
        numbers = np.searchsorted(self._track_ids, wanted)
        groups = [
            self._by_track[self._track_starts[number] : self._track_starts[number + 1]]
            for number, track_id in zip(numbers.tolist(), wanted.tolist(), strict=True)
            if number < self._track_ids.size and self._track_ids[number] == track_id
        ]
        if not groups:
            return np.zeros(0, dtype=np.int64)
        positions = np.concatenate(groups).astype(np.int64)
        return positions if len(groups) == 1 else np.sort(positions)


def _grouped_by_track(
    tracks: IntArray,
) -> tuple[IntArray, IntArray, npt.NDArray[np.unsignedinteger]]:
    """The distinct tracks (ascending), where each one's group starts, and the positions of the
    entries grouped by track, ascending within a group (hence in hash order there).

    Two stable passes over 16-bit digits of the track id (NumPy radix-sorts 16-bit keys in
    linear time): at 1,000 hours, about 100 million entries, a comparison sort of the track ids
    would add tens of seconds to loading the catalog.
    """
    if tracks.size and (tracks.min() < 0 or tracks.max() >= 1 << (ENTRY_FRAME_BITS - 1)):
        raise ValueError(f"track ids must lie in [0, 2**{ENTRY_FRAME_BITS - 1})")
    by_low_digit = np.argsort((tracks & _RADIX_MASK).astype(np.uint16), kind="stable")
    high_digits = (tracks[by_low_digit] >> _RADIX_BITS).astype(np.uint16)
    order = by_low_digit[np.argsort(high_digits, kind="stable")]
    grouped = tracks[order]
    firsts = np.flatnonzero(np.concatenate(([grouped.size > 0], grouped[1:] != grouped[:-1])))
    position_type = np.uint32 if tracks.size < 1 << 32 else np.uint64
    return grouped[firsts], np.append(firsts, grouped.size), order.astype(position_type)


def _expand_runs(run_starts: IntArray, run_lengths: IntArray) -> tuple[IntArray, IntArray]:
    """For runs `[start, start + length)`, every position in them, with the number of the run
    it belongs to (vectorised: no loop over runs)."""
    total = int(run_lengths.sum())
    run_numbers = np.repeat(np.arange(run_lengths.size, dtype=np.int64), run_lengths)
    first_of_run = np.cumsum(run_lengths) - run_lengths
    positions = (
        np.arange(total, dtype=np.int64)
        - np.repeat(first_of_run, run_lengths)
        + np.repeat(run_starts, run_lengths)
    )
    return run_numbers, positions


def track_frame_count(track_ids: IntArray, frames: IntArray) -> int:
    """Sum over tracks of (last anchor frame + 1): how many frames of audio the entries cover."""
    if track_ids.size == 0:
        return 0
    tracks, inverse = np.unique(track_ids, return_inverse=True)
    last = np.zeros(tracks.size, dtype=np.int64)
    np.maximum.at(last, inverse, frames)
    return int((last + 1).sum())
