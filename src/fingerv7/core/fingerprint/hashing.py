"""Landmark hashes: an anchor peak paired with nearby peaks, packed into one 21-bit integer.

Layout (most to least significant): anchor bin (8 bits) | frequency difference + 64 (7 bits) |
time difference in frames (6 bits). 21 bits fit PostgreSQL's `integer` and NumPy's `uint32`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fingerv7.core.fingerprint.config import FingerprintConfig
from fingerv7.core.fingerprint.peaks import Peaks

IntArray = npt.NDArray[np.int64]

ANCHOR_BIN_BITS = 8
DELTA_BIN_BITS = 7
DELTA_FRAME_BITS = 6
DELTA_BIN_BIAS = 1 << (DELTA_BIN_BITS - 1)
HASH_BITS = ANCHOR_BIN_BITS + DELTA_BIN_BITS + DELTA_FRAME_BITS
_MAX_LOOKAHEAD_PEAKS = 48


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Hashes of a clip with the frame of each hash's anchor peak; the peaks are kept so a matcher
    can re-hash them under speed hypotheses. `pairs` names each hash's (anchor, target) peak pair
    (anchor index * peak count + target index), the same under every speed hypothesis and for
    every rounding variant; empty when not known (hashes loaded from the catalog)."""

    hashes: IntArray
    anchor_frames: IntArray
    peaks: Peaks
    pairs: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.hashes.size)


def pack_hashes(anchor_bins: IntArray, delta_bins: IntArray, delta_frames: IntArray) -> IntArray:
    """Pack quantised (f1, f2 - f1, dt) triples; raises if any field is out of range."""
    anchor_bins, delta_bins, delta_frames = (
        np.asarray(anchor_bins, dtype=np.int64),
        np.asarray(delta_bins, dtype=np.int64),
        np.asarray(delta_frames, dtype=np.int64),
    )
    biased = delta_bins + DELTA_BIN_BIAS
    if (
        np.any((anchor_bins < 0) | (anchor_bins >= 1 << ANCHOR_BIN_BITS))
        or np.any((biased < 0) | (biased >= 1 << DELTA_BIN_BITS))
        or np.any((delta_frames < 0) | (delta_frames >= 1 << DELTA_FRAME_BITS))
    ):
        raise ValueError("hash field out of range")
    packed: IntArray = (
        (anchor_bins << (DELTA_BIN_BITS + DELTA_FRAME_BITS)) | (biased << DELTA_FRAME_BITS)
    ) | delta_frames
    return packed


def unpack_hashes(hashes: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Inverse of :func:`pack_hashes`: (anchor bins, frequency differences, frame differences)."""
    values = np.asarray(hashes, dtype=np.int64)
    delta_frames = values & ((1 << DELTA_FRAME_BITS) - 1)
    biased = (values >> DELTA_FRAME_BITS) & ((1 << DELTA_BIN_BITS) - 1)
    anchor_bins = values >> (DELTA_BIN_BITS + DELTA_FRAME_BITS)
    return anchor_bins, biased - DELTA_BIN_BIAS, delta_frames


def hash_peaks(peaks: Peaks, config: FingerprintConfig) -> Fingerprint:
    """Pair each anchor with the `fan_out` nearest later peaks inside its target zone.

    With `config.hash_margin` > 0 (queries), a pair also gets the hashes its fields would have if
    a position within the margin of a rounding edge fell on the other side of it.
    """
    anchors, targets, ranks = _candidate_pairs(peaks, config)
    if anchors.size == 0:
        nothing = np.zeros(0, dtype=np.int64)
        return Fingerprint(hashes=nothing, anchor_frames=nothing.copy(), peaks=peaks)
    order = np.lexsort((ranks, anchors))
    anchors, targets = anchors[order], targets[order]
    rank_in_anchor = np.arange(anchors.size) - np.searchsorted(anchors, anchors, side="left")
    chosen = rank_in_anchor < config.fan_out
    anchors, targets = anchors[chosen], targets[chosen]
    anchor_frames = np.rint(peaks.frames[anchors]).astype(np.int64)
    anchor_bins = peaks.bins[anchors]
    delta_bins = peaks.bins[targets] - anchor_bins
    margin = config.hash_margin
    fields = [
        _quantised(anchor_bins, np.floor, margin),
        _quantised(delta_bins, np.rint, margin),
        # The stored time difference is between rounded frames, as the anchor frame is.
        _quantised_difference(peaks.frames[targets], anchor_frames, margin),
    ]
    pair_ids = anchors * len(peaks) + targets
    hashes: list[IntArray] = []
    frames: list[IntArray] = []
    pairs: list[IntArray] = []
    for choice in range(8 if margin > 0 else 1):
        picked = [rounded[(choice >> number) & 1] for number, rounded in enumerate(fields)]
        # A variant exists where each field it takes from the alternative really differs.
        exists = np.ones(anchors.size, dtype=bool)
        for number, rounded in enumerate(fields):
            if (choice >> number) & 1:
                exists &= rounded[1] != rounded[0]
        exists &= _in_zone(picked[0], picked[1], picked[2], config)
        hashes.append(pack_hashes(*(values[exists] for values in picked)))
        frames.append(anchor_frames[exists])
        pairs.append(pair_ids[exists])
    return Fingerprint(
        hashes=np.concatenate(hashes),
        anchor_frames=np.concatenate(frames),
        peaks=peaks,
        pairs=np.concatenate(pairs),
    )


def _quantised(
    values: npt.NDArray[np.float64], rounding: np.ufunc, margin: float
) -> tuple[IntArray, IntArray]:
    """(rounded value, the value it would round to if moved by the margin towards the nearest
    edge; equal to the first when no edge is that close)."""
    primary = rounding(values).astype(np.int64)
    lower, upper = rounding(values - margin), rounding(values + margin)
    alternative = np.where(lower != primary, lower, upper).astype(np.int64)
    return primary, alternative


def _quantised_difference(
    target_frames: npt.NDArray[np.float64], anchor_frames: IntArray, margin: float
) -> tuple[IntArray, IntArray]:
    target_primary, target_alternative = _quantised(target_frames, np.rint, margin)
    return target_primary - anchor_frames, target_alternative - anchor_frames


def _in_zone(
    anchor_bins: IntArray, delta_bins: IntArray, delta_frames: IntArray, config: FingerprintConfig
) -> npt.NDArray[np.bool_]:
    return (
        (anchor_bins >= 0)
        & (anchor_bins < 1 << ANCHOR_BIN_BITS)
        & (np.abs(delta_bins) <= config.target_max_bins)
        & (delta_frames >= config.target_min_frames)
        & (delta_frames <= config.target_max_frames)
    )


def _candidate_pairs(
    peaks: Peaks, config: FingerprintConfig
) -> tuple[IntArray, IntArray, IntArray]:
    """All (anchor, target, distance-in-peak-order) pairs whose target lies in the target zone."""
    frames = np.rint(peaks.frames).astype(np.int64)
    bins = peaks.bins
    count = frames.size
    valid_anchor = (bins >= 0) & (bins < 1 << ANCHOR_BIN_BITS)
    found: list[tuple[IntArray, IntArray, IntArray]] = []
    for step in range(1, min(_MAX_LOOKAHEAD_PEAKS, count)):
        anchor = np.arange(count - step)
        target = anchor + step
        delta_frames = frames[target] - frames[anchor]
        if delta_frames.min() > config.target_max_frames:
            break
        zone = (
            (delta_frames >= config.target_min_frames)
            & (delta_frames <= config.target_max_frames)
            & (np.abs(np.rint(bins[target] - bins[anchor])) <= config.target_max_bins)
            & valid_anchor[anchor]
        )
        found.append((anchor[zone], target[zone], np.full(int(zone.sum()), step)))
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    return (
        np.concatenate([pair[0] for pair in found]),
        np.concatenate([pair[1] for pair in found]),
        np.concatenate([pair[2] for pair in found]),
    )
