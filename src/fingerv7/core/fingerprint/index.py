"""An in-memory inverted index from hash to (track, speed variant, anchor frame).

Built once from the catalog (database rows or freshly computed fingerprints) and then read by
every identification: a sorted array and `searchsorted` answer a whole query's lookups in one
vectorised pass, far faster than asking the database per query (see docs/fingerprint.md).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fingerv7.core.fingerprint.hashing import HASH_BITS

IntArray = npt.NDArray[np.int64]

_FRAME_BITS = 32
_FRAME_MASK = (1 << _FRAME_BITS) - 1
# Tracks whose entries `lookup_track` keeps at hand: the songs on air on a worker's streams.
# About 16 bytes per entry, some 100 KB for a four-minute track.
_TRACKS_KEPT = 256
_SCAN_CHUNK = 1 << 22


@dataclass(frozen=True, slots=True)
class HashPostings:
    """Index entries matched by a query: which query hash each came from, and where it points."""

    query_positions: IntArray
    track_ids: IntArray
    variants: IntArray
    frames: IntArray


class HashLookup(Protocol):
    """Anything that finds the entries for a batch of query hashes (memory or database).

    `frame_count` is the length of the indexed audio in frames (the sum over tracks of the last
    anchor frame + 1): the number of places a chance alignment could occur, which the matcher
    needs to say how unlikely an alignment is.
    """

    @property
    def frame_count(self) -> int: ...

    def lookup(
        self, query_hashes: npt.ArrayLike, max_postings_per_hash: int | None = None
    ) -> HashPostings: ...

    def lookup_track(
        self,
        query_hashes: npt.ArrayLike,
        track_id: int,
        max_postings_per_hash: int | None = None,
    ) -> HashPostings: ...

    def posting_counts(
        self, query_hashes: npt.ArrayLike, max_postings_per_hash: int | None = None
    ) -> IntArray: ...


class HashIndex:
    """Immutable; entries sorted by hash behind a direct-address table of run starts.

    Hashes have only :data:`HASH_BITS` bits, so `starts[h]:starts[h + 1]` locates a hash's run
    with no search at all; (track, frame) are packed in one int64 so a lookup gathers from one
    array. Memory: 8 bytes per entry plus a fixed 16 MiB table (1 more byte per entry when
    speed variants are used).
    """

    __slots__ = ("_entries", "_frame_count", "_starts", "_tracks_kept", "_tracks_lock", "_variants")

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
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        tracks = np.asarray(track_ids, dtype=np.int64)[order]
        frame_array = np.asarray(frames, dtype=np.int64)[order]
        self._entries = (tracks << _FRAME_BITS) | (frame_array & _FRAME_MASK)
        self._frame_count = track_frame_count(tracks, frame_array)
        variant_array = None if variants is None else np.asarray(variants, dtype=np.uint8)
        self._variants = (
            None if variant_array is None or not variant_array.any() else variant_array[order]
        )
        self._tracks_kept: OrderedDict[int, tuple[IntArray, IntArray]] = OrderedDict()
        self._tracks_lock = threading.Lock()

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
        return int(self._entries.nbytes + self._starts.nbytes + variants)

    @property
    def track_ids(self) -> frozenset[int]:
        return frozenset(int(track) for track in np.unique(self._entries >> _FRAME_BITS))

    def columns(self) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """Every entry as (hash, track, frame, speed variant), sorted by hash."""
        hashes = np.repeat(np.arange(1 << HASH_BITS, dtype=np.int64), np.diff(self._starts))
        variants = (
            np.zeros(self._entries.size, dtype=np.int64)
            if self._variants is None
            else self._variants.astype(np.int64)
        )
        return hashes, self._entries >> _FRAME_BITS, self._entries & _FRAME_MASK, variants

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
        counts = np.where(valid, self._starts[keys + 1] - self._starts[keys], 0)
        if max_postings_per_hash is not None:
            counts[counts > max_postings_per_hash] = 0
        return counts

    def lookup(
        self, query_hashes: npt.ArrayLike, max_postings_per_hash: int | None = None
    ) -> HashPostings:
        """Every entry whose hash equals one of `query_hashes`, tagged with that query position.

        Hashes with more than `max_postings_per_hash` entries are skipped: they say little
        about which track it is and would dominate the cost of voting.
        """
        wanted = np.asarray(query_hashes, dtype=np.int64)
        counts = self.posting_counts(wanted, max_postings_per_hash)
        run_starts = self._starts[np.where(counts > 0, wanted, 0)]
        query_positions, positions = _expand_runs(run_starts, counts)
        return self._postings(query_positions, positions)

    def lookup_track(
        self,
        query_hashes: npt.ArrayLike,
        track_id: int,
        max_postings_per_hash: int | None = None,
    ) -> HashPostings:
        """What :meth:`lookup` would return, restricted to the entries of one track, in a time
        that does not grow with the catalog (after the track's first lookup, which scans it).

        The same hashes are skipped as in :meth:`lookup` (by their count in the whole index),
        so votes counted on the result are the track's votes in a full lookup.
        """
        wanted = np.asarray(query_hashes, dtype=np.int64)
        searchable = self.posting_counts(wanted, max_postings_per_hash) > 0
        positions_of_track, hashes_of_track = self._entries_of_track(track_id)
        first = np.searchsorted(hashes_of_track, wanted, side="left")
        counts = np.where(
            searchable, np.searchsorted(hashes_of_track, wanted, side="right") - first, 0
        )
        query_positions, in_track = _expand_runs(first, counts)
        return self._postings(query_positions, positions_of_track[in_track])

    def _postings(self, query_positions: IntArray, positions: IntArray) -> HashPostings:
        entries = self._entries[positions]
        variants = (
            np.zeros(positions.size, dtype=np.int64)
            if self._variants is None
            else self._variants[positions].astype(np.int64)
        )
        return HashPostings(
            query_positions=query_positions,
            track_ids=entries >> _FRAME_BITS,
            variants=variants,
            frames=entries & _FRAME_MASK,
        )

    def _entries_of_track(self, track_id: int) -> tuple[IntArray, IntArray]:
        """Positions of a track's entries (ascending, so in hash order) and their hashes."""
        with self._tracks_lock:
            kept = self._tracks_kept.get(track_id)
            if kept is not None:
                self._tracks_kept.move_to_end(track_id)
                return kept
        # One pass over the entries, in chunks so no temporary grows with the catalog.
        low, high = track_id << _FRAME_BITS, (track_id + 1) << _FRAME_BITS
        found = [
            start + np.flatnonzero((chunk >= low) & (chunk < high))
            for start in range(0, self._entries.size, _SCAN_CHUNK)
            for chunk in (self._entries[start : start + _SCAN_CHUNK],)
        ]
        positions = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
        hashes = np.searchsorted(self._starts, positions, side="right") - 1
        kept = (positions.astype(np.int64), hashes.astype(np.int64))
        with self._tracks_lock:
            self._tracks_kept[track_id] = kept
            while len(self._tracks_kept) > _TRACKS_KEPT:
                self._tracks_kept.popitem(last=False)
        return kept


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
