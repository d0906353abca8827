"""Hash packing and pairing: the integer layout is what the catalog stores, so it must be exact."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingerv7.core.fingerprint import (
    HASH_BITS,
    STEPS_PER_BIN,
    STEPS_PER_FRAME,
    FingerprintConfig,
    MatchConfig,
    Peaks,
    hash_peaks,
    hash_peaks_at_speeds,
    pack_hashes,
    unpack_hashes,
)

fields = st.tuples(
    st.integers(0, 511),
    st.integers(-128, 127),
    st.integers(0, 127),
)


@given(st.lists(fields, min_size=1, max_size=50))
def test_pack_unpack_round_trip(triples: list[tuple[int, int, int]]) -> None:
    anchors, deltas, frames = (np.array(column) for column in zip(*triples, strict=True))
    packed = pack_hashes(anchors, deltas, frames)
    assert packed.min() >= 0
    assert packed.max() < 1 << HASH_BITS
    unpacked = unpack_hashes(packed)
    assert [list(column) for column in unpacked] == [list(anchors), list(deltas), list(frames)]


@given(fields, fields)
def test_distinct_fields_give_distinct_hashes(
    first: tuple[int, int, int], second: tuple[int, int, int]
) -> None:
    a = pack_hashes(*(np.array([value]) for value in first))
    b = pack_hashes(*(np.array([value]) for value in second))
    assert (a[0] == b[0]) == (first == second)


@pytest.mark.parametrize(
    "anchor, delta, frame", [(512, 0, 0), (-1, 0, 0), (0, 128, 0), (0, -129, 0), (0, 0, 128)]
)
def test_out_of_range_fields_are_rejected(anchor: int, delta: int, frame: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        pack_hashes(np.array([anchor]), np.array([delta]), np.array([frame]))


peak_lists = st.lists(
    st.tuples(st.floats(0, 500), st.floats(5, 240)), min_size=0, max_size=120, unique=True
)


def _peaks(points: list[tuple[float, float]]) -> Peaks:
    ordered = sorted(points)
    frames = np.array([p[0] for p in ordered], dtype=np.float64)
    bins = np.array([p[1] for p in ordered], dtype=np.float64)
    return Peaks(frames=frames, bins=bins, levels_db=np.zeros(frames.size))


@settings(deadline=None)
@given(peak_lists, st.booleans())
def test_pairs_respect_target_zone_and_fan_out(
    points: list[tuple[float, float]], reference: bool
) -> None:
    query_config = FingerprintConfig()
    config = query_config.for_references() if reference else query_config
    peaks = _peaks(points)
    result = hash_peaks(peaks, config)
    anchor_steps, delta_steps, frame_steps = unpack_hashes(result.hashes)
    assert np.all(frame_steps >= config.target_min_frames * STEPS_PER_FRAME)
    assert np.all(frame_steps <= config.target_max_frames * STEPS_PER_FRAME)
    assert np.all(np.abs(delta_steps) <= config.target_max_bins * STEPS_PER_BIN)
    # the anchor field is its peak's bin in half bins, floored (or, for a query, the same of
    # the bin moved by the rounding margin)
    anchor_fields = {
        int(np.floor((peaks.bins[n] + shift) * STEPS_PER_BIN))
        for n in range(len(peaks))
        for shift in {-config.hash_margin, 0.0, config.hash_margin}
    }
    assert set(anchor_steps.tolist()) <= anchor_fields
    # every hash's anchor frame is one of the peaks' (rounded) frames
    assert set(result.anchor_frames.tolist()) <= set(np.rint(peaks.frames).astype(int).tolist())
    # the pairs counted are the distinct pairs hashed (confidence is per pair)
    assert result.pair_count == len(set(result.pairs.tolist()))
    # a reference stores one hash per pair; a query at most one per rounding of its 3 fields
    variants = 1 if reference else 8
    assert len(result) <= variants * config.fan_out * len(points)


@settings(deadline=None)
@given(peak_lists)
def test_query_margin_only_adds_hashes(points: list[tuple[float, float]]) -> None:
    peaks = _peaks(points)
    config = FingerprintConfig()
    exact = hash_peaks(peaks, replace(config, hash_margin=0.0))
    widened = hash_peaks(peaks, config)
    pairs = set(zip(exact.hashes.tolist(), exact.anchor_frames.tolist(), strict=True))
    assert pairs <= set(zip(widened.hashes.tolist(), widened.anchor_frames.tolist(), strict=True))
    # ... after the plain roundings, which come first: exactly the hashes without a margin
    rounded = widened.rounded_count
    assert rounded == exact.rounded_count == len(exact)
    assert np.array_equal(widened.hashes[:rounded], exact.hashes)
    assert np.array_equal(widened.pairs[:rounded], exact.pairs)


# Peaks on quarter frames and quarter bins lie on rounding edges (of a half-step field, or of a
# rounded frame), where a widened zone that is too narrow would first lose a pair.
edge_peak_lists = st.lists(
    st.tuples(st.integers(0, 2000).map(lambda n: n / 4), st.integers(20, 960).map(lambda n: n / 4)),
    min_size=0,
    max_size=120,
    unique=True,
)


@settings(deadline=None)
@given(st.one_of(peak_lists, edge_peak_lists), st.booleans())
def test_hashing_all_speeds_at_once_equals_hashing_each_rescaled_copy(
    points: list[tuple[float, float]], reference: bool
) -> None:
    """Candidate pairs are found once for every speed hypothesis; each hypothesis must still get
    exactly the hashes, frames and pairs of hashing its own rescaled peaks."""
    query_config = FingerprintConfig()
    config = query_config.for_references() if reference else query_config
    peaks = _peaks(points)
    speeds = MatchConfig().query_speeds
    for speed, together in zip(speeds, hash_peaks_at_speeds(peaks, config, speeds), strict=True):
        alone = hash_peaks(peaks.rescaled(speed, 1.0 / speed), config)
        assert together.hashes.tolist() == alone.hashes.tolist()
        assert together.anchor_frames.tolist() == alone.anchor_frames.tolist()
        assert together.pairs.tolist() == alone.pairs.tolist()


@pytest.mark.parametrize(
    "anchor_bin, expected_anchor_steps", [(20.25, {40}), (20.45, {40, 41}), (20.55, {40, 41})]
)
def test_query_margin_hashes_both_sides_of_a_rounding_edge(
    anchor_bin: float, expected_anchor_steps: set[int]
) -> None:
    """Re-encoding moves a peak by a fraction of a bin; near an edge the query carries both.
    Edges of the anchor field lie every half bin; the margin is 0.2 bin."""
    peaks = Peaks(
        frames=np.array([10.0, 20.0]),
        bins=np.array([anchor_bin, anchor_bin + 5.0]),  # delta 5.0, 10 frames: far from edges
        levels_db=np.zeros(2),
    )
    config = FingerprintConfig()
    anchor_steps, delta_steps, frame_steps = unpack_hashes(hash_peaks(peaks, config).hashes)
    assert set(anchor_steps.tolist()) == expected_anchor_steps
    assert set(delta_steps.tolist()) == {10} and set(frame_steps.tolist()) == {20}
    reference = hash_peaks(peaks, config.for_references())
    assert unpack_hashes(reference.hashes)[0].tolist() == [int(np.floor(anchor_bin * 2))]


def test_time_difference_is_measured_between_unrounded_peaks() -> None:
    """Version 4 hashes the time difference of the peaks' refined positions in half frames, so
    where the anchor's frame rounds does not move it."""
    peaks = Peaks(
        frames=np.array([10.45, 20.7]), bins=np.array([30.0, 35.0]), levels_db=np.zeros(2)
    )
    reference = hash_peaks(peaks, FingerprintConfig().for_references())
    assert unpack_hashes(reference.hashes)[2].tolist() == [round(10.25 * STEPS_PER_FRAME)]
    assert reference.anchor_frames.tolist() == [10]


def test_no_peaks_no_hashes() -> None:
    result = hash_peaks(Peaks.empty(), FingerprintConfig())
    assert len(result) == 0
