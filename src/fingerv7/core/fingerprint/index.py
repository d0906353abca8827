"""An in-memory inverted index from hash to (track, speed variant, anchor frame).

Built once from the catalog (database rows or freshly computed fingerprints) and then read by
every identification: a sorted array and `searchsorted` answer a whole query's lookups in one
vectorised pass, far faster than asking the database per query (see docs/fingerprint.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fingerv7.core.fingerprint.hashing import HASH_BITS

IntArray = npt.NDArray[np.int64]

_FRAME_BITS = 32
_FRAME_MASK = (1 << _FRAME_BITS) - 1


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


class HashIndex:
    """Immutable; entries sorted by hash behind a direct-address table of run starts.

    Hashes have only :data:`HASH_BITS` bits, so `starts[h]:starts[h + 1]` locates a hash's run
    with no search at all; (track, frame) are packed in one int64 so a lookup gathers from one
    array. Memory: 8 bytes per entry plus a fixed 16 MiB table (1 more byte per entry when
    speed variants are used).
    """

    __slots__ = ("_entries", "_frame_count", "_starts", "_variants")

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

    def lookup(
        self, query_hashes: npt.ArrayLike, max_postings_per_hash: int | None = None
    ) -> HashPostings:
        """Every entry whose hash equals one of `query_hashes`, tagged with that query position.

        Hashes with more than `max_postings_per_hash` entries are skipped: they say little
        about which track it is and would dominate the cost of voting.
        """
        wanted = np.asarray(query_hashes, dtype=np.int64)
        valid = (wanted >= 0) & (wanted < 1 << HASH_BITS)
        keys = np.where(valid, wanted, 0)
        starts = self._starts[keys]
        counts = np.where(valid, self._starts[keys + 1] - starts, 0)
        if max_postings_per_hash is not None:
            counts[counts > max_postings_per_hash] = 0
        total = int(counts.sum())
        query_positions = np.repeat(np.arange(wanted.size, dtype=np.int64), counts)
        first_of_run = np.cumsum(counts) - counts
        positions = (
            np.arange(total, dtype=np.int64)
            - np.repeat(first_of_run, counts)
            + np.repeat(starts, counts)
        )
        entries = self._entries[positions]
        variants = (
            np.zeros(total, dtype=np.int64)
            if self._variants is None
            else self._variants[positions].astype(np.int64)
        )
        return HashPostings(
            query_positions=query_positions,
            track_ids=entries >> _FRAME_BITS,
            variants=variants,
            frames=entries & _FRAME_MASK,
        )


def track_frame_count(track_ids: IntArray, frames: IntArray) -> int:
    """Sum over tracks of (last anchor frame + 1): how many frames of audio the entries cover."""
    if track_ids.size == 0:
        return 0
    tracks, inverse = np.unique(track_ids, return_inverse=True)
    last = np.zeros(tracks.size, dtype=np.int64)
    np.maximum.at(last, inverse, frames)
    return int((last + 1).sum())
