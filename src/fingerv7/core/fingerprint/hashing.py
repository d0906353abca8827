"""Landmark hashes: an anchor peak paired with nearby peaks, packed into one 21-bit integer.

Layout (most to least significant): anchor bin (8 bits) | frequency difference + 64 (7 bits) |
time difference in frames (6 bits). 21 bits fit PostgreSQL's `integer` and NumPy's `uint32`.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    return hash_peaks_at_speeds(peaks, config, (1.0,))[0]


def hash_peaks_at_speeds(
    peaks: Peaks, config: FingerprintConfig, speeds: Sequence[float]
) -> list[Fingerprint]:
    """:func:`hash_peaks` of the peaks rescaled to each speed hypothesis (heard `speed` times
    fast: frame t was reference frame t * speed, bin f was bin f / speed), in order.

    The same as calling :func:`hash_peaks` on each rescaled copy, but the candidate pairs are
    found once, within a target zone widened to hold every hypothesis's zone, and each
    hypothesis only re-checks and re-quantises them: a query's 13 hypotheses used to spend most
    of a lookup's CPU finding the same pairs 13 times (docs/fingerprint.md).
    """
    if not speeds:
        return []
    anchors, targets = _candidate_pairs(peaks, config, min(speeds), max(speeds))
    return [_hash_at_speed(peaks, anchors, targets, config, speed) for speed in speeds]


def _hash_at_speed(
    peaks: Peaks, anchors: IntArray, targets: IntArray, config: FingerprintConfig, speed: float
) -> Fingerprint:
    scaled = peaks if speed == 1.0 else peaks.rescaled(speed, 1.0 / speed)
    frames = np.rint(scaled.frames).astype(np.int64)
    bins = scaled.bins
    valid_anchor = (bins >= 0) & (bins < 1 << ANCHOR_BIN_BITS)
    delta_frames = frames[targets] - frames[anchors]
    in_zone = (
        (delta_frames >= config.target_min_frames)
        & (delta_frames <= config.target_max_frames)
        & (np.abs(np.rint(bins[targets] - bins[anchors])) <= config.target_max_bins)
        & valid_anchor[anchors]
    )
    anchors, targets = anchors[in_zone], targets[in_zone]
    # Candidates come sorted by anchor, then by distance in peak order: the first `fan_out` of
    # each anchor are its nearest targets.
    rank_in_anchor = np.arange(anchors.size) - np.searchsorted(anchors, anchors, side="left")
    chosen = rank_in_anchor < config.fan_out
    anchors, targets = anchors[chosen], targets[chosen]
    anchor_frames = frames[anchors]
    anchor_bins = bins[anchors]
    margin = config.hash_margin
    fields = [
        _quantised(anchor_bins, np.floor, margin),
        _quantised(bins[targets] - anchor_bins, np.rint, margin),
        # The stored time difference is between rounded frames, as the anchor frame is.
        _quantised_difference(scaled.frames[targets], anchor_frames, margin),
    ]
    # Variant `choice` takes field number k from its alternative rounding when bit k is set; it
    # exists where each field it takes from the alternative really differs. Variant-major order.
    choices = np.arange(8 if margin > 0 else 1)[:, np.newaxis]
    exists = np.ones((choices.size, anchors.size), dtype=bool)
    picked: list[IntArray] = []
    for number, (primary, alternative) in enumerate(fields):
        use_alternative = ((choices >> number) & 1).astype(bool)
        exists &= ~use_alternative | (alternative != primary)
        picked.append(np.where(use_alternative, alternative, primary))
    exists &= _in_zone(picked[0], picked[1], picked[2], config)
    pair_ids = anchors * len(peaks) + targets
    return Fingerprint(
        hashes=pack_hashes(*(values[exists] for values in picked)),
        anchor_frames=np.broadcast_to(anchor_frames, exists.shape)[exists],
        peaks=scaled,
        pairs=np.broadcast_to(pair_ids, exists.shape)[exists],
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
    peaks: Peaks, config: FingerprintConfig, slowest: float, fastest: float
) -> tuple[IntArray, IntArray]:
    """Every (anchor, target) pair, sorted by anchor and then by distance in peak order, that
    could lie in the target zone under some speed in [slowest, fastest].

    Rounding moves a frame difference by less than one frame and a bin difference by half a
    bin, so the zone is widened by that much before it is scaled by the extreme speeds; each
    hypothesis then applies the exact zone (:func:`_hash_at_speed`). Peaks are sorted by time,
    so once every pair `step` peaks apart is too far apart, so is every pair further apart.
    """
    frames, bins = peaks.frames, peaks.bins
    count = frames.size
    slack = 1e-9  # so that floating-point error at a bound cannot leave a pair out
    shortest = (config.target_min_frames - 1) / fastest - slack
    longest = (config.target_max_frames + 1) / slowest + slack
    widest_bins = (config.target_max_bins + 0.5) * fastest + slack
    found: list[tuple[IntArray, IntArray]] = []
    for step in range(1, min(_MAX_LOOKAHEAD_PEAKS, count)):
        anchor = np.arange(count - step)
        target = anchor + step
        delta_frames = frames[target] - frames[anchor]
        if delta_frames.min() > longest:
            break
        zone = (
            (delta_frames >= shortest)
            & (delta_frames <= longest)
            & (np.abs(bins[target] - bins[anchor]) <= widest_bins)
        )
        found.append((anchor[zone], target[zone]))
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    anchors = np.concatenate([pair[0] for pair in found])
    targets = np.concatenate([pair[1] for pair in found])
    # Within an anchor, a larger target index is a larger step: sorting by target suffices.
    order = np.lexsort((targets, anchors))
    return anchors[order], targets[order]
