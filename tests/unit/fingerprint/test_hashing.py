"""Hash packing and pairing: the integer layout is what the catalog stores, so it must be exact."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fingerv7.core.fingerprint import (
    HASH_BITS,
    FingerprintConfig,
    Peaks,
    hash_peaks,
    pack_hashes,
    unpack_hashes,
)

fields = st.tuples(
    st.integers(0, 255),
    st.integers(-64, 63),
    st.integers(0, 63),
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
    "anchor, delta, frame", [(256, 0, 0), (-1, 0, 0), (0, 64, 0), (0, -65, 0), (0, 0, 64)]
)
def test_out_of_range_fields_are_rejected(anchor: int, delta: int, frame: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        pack_hashes(np.array([anchor]), np.array([delta]), np.array([frame]))


@given(
    st.lists(st.tuples(st.floats(0, 500), st.floats(5, 240)), min_size=0, max_size=120, unique=True)
)
def test_pairs_respect_target_zone_and_fan_out(points: list[tuple[float, float]]) -> None:
    config = FingerprintConfig()
    ordered = sorted(points)
    frames = np.array([p[0] for p in ordered], dtype=np.float64)
    bins = np.array([p[1] for p in ordered], dtype=np.float64)
    peaks = Peaks(frames=frames, bins=bins, levels_db=np.zeros(frames.size))
    result = hash_peaks(peaks, config)
    anchor_bins, delta_bins, delta_frames = unpack_hashes(result.hashes)
    assert np.all(delta_frames >= config.target_min_frames)
    assert np.all(delta_frames <= config.target_max_frames)
    assert np.all(np.abs(delta_bins) <= config.target_max_bins)
    # every hash's anchor frame is one of the peaks' (rounded) frames
    assert set(result.anchor_frames.tolist()) <= set(np.rint(frames).astype(int).tolist())
    _, per_anchor = np.unique(
        np.stack([result.anchor_frames, anchor_bins]), axis=1, return_counts=True
    )
    # anchors sharing a rounded position may pool their targets; never more than that
    assert per_anchor.size == 0 or per_anchor.max() <= config.fan_out * len(points)
    assert len(result) <= config.fan_out * len(points)


def test_no_peaks_no_hashes() -> None:
    result = hash_peaks(Peaks.empty(), FingerprintConfig())
    assert len(result) == 0
