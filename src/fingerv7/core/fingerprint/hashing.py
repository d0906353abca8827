"""Landmark hashes: an anchor peak paired with nearby peaks, packed into one 24-bit integer.

Layout (most to least significant): anchor frequency in half bins (9 bits) | frequency
difference in half bins + 128 (8 bits) | time difference in half frames (7 bits). Half steps
(catalog fingerprint version 4) give a hash eight times as many values as whole bins and frames
did (21 bits): at 1,000 hours a query's hashes point to about a third as many index entries,
with the same accuracy on the real corpus (docs/fingerprint.md, "Finer hashes"). 24 bits fit
PostgreSQL's `integer` and NumPy's `uint32`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fingerv7.core.fingerprint.config import FingerprintConfig
from fingerv7.core.fingerprint.peaks import Peaks

IntArray = npt.NDArray[np.int64]

STEPS_PER_BIN = 2  # frequency fields count half bins
STEPS_PER_FRAME = 2  # the time difference counts half frames
ANCHOR_BIN_BITS = 8  # a peak's whole bin (0-255), as index.anchor_peaks reports it
ANCHOR_FIELD_BITS = 9
DELTA_BIN_BITS = 8
DELTA_FRAME_BITS = 7
DELTA_BIN_BIAS = 1 << (DELTA_BIN_BITS - 1)
HASH_BITS = ANCHOR_FIELD_BITS + DELTA_BIN_BITS + DELTA_FRAME_BITS
_MAX_LOOKAHEAD_PEAKS = 48


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Hashes of a clip with the frame of each hash's anchor peak; the peaks are kept so a matcher
    can re-hash them under speed hypotheses. `pairs` names each hash's (anchor, target) peak pair
    (anchor index * peak count + target index), the same under every speed hypothesis and for
    every rounding variant; empty when not known (hashes loaded from the catalog). `pair_count`
    is the number of distinct pairs among them (None when not known). The first `rounded_count`
    hashes are the pairs' plain roundings, the rest the margin's variants (None when not known)."""

    hashes: IntArray
    anchor_frames: IntArray
    peaks: Peaks
    pairs: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    pair_count: int | None = None
    rounded_count: int | None = None

    def __len__(self) -> int:
        return int(self.hashes.size)


def pack_hashes(anchor_steps: IntArray, delta_steps: IntArray, frame_steps: IntArray) -> IntArray:
    """Pack quantised (f1, f2 - f1, dt) triples, each in its field's steps (half bins, half
    frames); raises if any field is out of range."""
    anchor_steps, delta_steps, frame_steps = (
        np.asarray(anchor_steps, dtype=np.int64),
        np.asarray(delta_steps, dtype=np.int64),
        np.asarray(frame_steps, dtype=np.int64),
    )
    biased = delta_steps + DELTA_BIN_BIAS
    if (
        np.any((anchor_steps < 0) | (anchor_steps >= 1 << ANCHOR_FIELD_BITS))
        or np.any((biased < 0) | (biased >= 1 << DELTA_BIN_BITS))
        or np.any((frame_steps < 0) | (frame_steps >= 1 << DELTA_FRAME_BITS))
    ):
        raise ValueError("hash field out of range")
    packed: IntArray = (
        (anchor_steps << (DELTA_BIN_BITS + DELTA_FRAME_BITS)) | (biased << DELTA_FRAME_BITS)
    ) | frame_steps
    return packed


def unpack_hashes(hashes: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Inverse of :func:`pack_hashes`: (anchor, frequency difference, time difference), each in
    its field's steps."""
    values = np.asarray(hashes, dtype=np.int64)
    frame_steps = values & ((1 << DELTA_FRAME_BITS) - 1)
    biased = (values >> DELTA_FRAME_BITS) & ((1 << DELTA_BIN_BITS) - 1)
    anchor_steps = values >> (DELTA_BIN_BITS + DELTA_FRAME_BITS)
    return anchor_steps, biased - DELTA_BIN_BIAS, frame_steps


def anchor_bins_of(hashes: IntArray) -> IntArray:
    """The whole bin of each hash's anchor peak (its floored position, as catalogued)."""
    anchor_bins: IntArray = unpack_hashes(hashes)[0] // STEPS_PER_BIN
    return anchor_bins


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
    # Each field in its steps, with the margin (a fraction of a bin or a frame) in the same units.
    fields = [
        _quantised(anchor_bins * STEPS_PER_BIN, np.floor, margin * STEPS_PER_BIN),
        _quantised((bins[targets] - anchor_bins) * STEPS_PER_BIN, np.rint, margin * STEPS_PER_BIN),
        _quantised(
            (scaled.frames[targets] - scaled.frames[anchors]) * STEPS_PER_FRAME,
            np.rint,
            margin * STEPS_PER_FRAME,
        ),
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
        pair_count=int(np.count_nonzero(exists.any(axis=0))),
        rounded_count=int(np.count_nonzero(exists[0])),
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


def _in_zone(
    anchor_steps: IntArray, delta_steps: IntArray, frame_steps: IntArray, config: FingerprintConfig
) -> npt.NDArray[np.bool_]:
    return (
        (anchor_steps >= 0)
        & (anchor_steps < 1 << ANCHOR_FIELD_BITS)
        & (np.abs(delta_steps) <= config.target_max_bins * STEPS_PER_BIN)
        & (frame_steps >= config.target_min_frames * STEPS_PER_FRAME)
        & (frame_steps <= config.target_max_frames * STEPS_PER_FRAME)
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
