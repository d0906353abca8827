"""Peak-level verification: a reference peak counts as found exactly when a clip peak lies within
the tolerances, chance is judged per frequency row, and the index gives a track's anchor peaks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fingerv7.core.fingerprint import FingerprintConfig, HashIndex, Peaks, hash_peaks, pack_hashes
from fingerv7.core.fingerprint.hashing import ANCHOR_BIN_BITS
from fingerv7.core.fingerprint.matching import counted_peak_positions
from fingerv7.core.fingerprint.verification import PeakAgreement, clip_coverage, peak_agreement


def _peaks(frames: list[float], bins: list[float]) -> Peaks:
    return Peaks(np.array(frames, dtype=float), np.array(bins, dtype=float), np.zeros(len(frames)))


@settings(max_examples=200, deadline=None)
@given(
    clip=st.lists(st.tuples(st.floats(0, 80), st.floats(0, 255.99)), min_size=1, max_size=25),
    reference=st.lists(st.tuples(st.integers(-5, 90), st.integers(0, 255)), max_size=40),
    speed=st.sampled_from([0.97, 1.0, 1.015]),
    frame_tolerance=st.integers(0, 3),
    bin_tolerance=st.integers(0, 2),
)
def test_a_reference_peak_is_found_exactly_when_a_clip_peak_is_within_the_tolerances(
    clip: list[tuple[float, float]],
    reference: list[tuple[int, int]],
    speed: float,
    frame_tolerance: int,
    bin_tolerance: int,
) -> None:
    peaks = _peaks([f for f, _ in clip], [b for _, b in clip])
    coverage = clip_coverage(peaks, speed, frame_tolerance, bin_tolerance)
    frames = np.array([f for f, _ in reference], dtype=np.int64)
    bins = np.array([b for _, b in reference], dtype=np.int64)
    agreement = peak_agreement(coverage, frames, bins)

    # The definition, peak by peak: clip peaks placed as hashes place them (frame rounded, bin
    # floored, at the hypothesis's speed), and a reference peak inside the clip's span.
    clip_frames = np.rint(peaks.frames * speed).astype(int)
    clip_bins = np.floor(peaks.bins / speed).astype(int)
    length = int(clip_frames.max()) + 1
    inside = [(f, b) for f, b in reference if 0 <= f < length]
    found = sum(
        any(
            abs(f - cf) <= frame_tolerance and abs(b - cb) <= bin_tolerance
            for cf, cb in zip(clip_frames, clip_bins, strict=True)
        )
        for f, b in inside
    )
    assert agreement.reference_peaks == len(inside)
    assert agreement.found == found
    assert agreement.found <= agreement.reference_peaks


def test_chance_is_judged_per_frequency_row() -> None:
    """A held note fills its row with clip peaks: a reference peak there is found, but chance
    expects it, so it is no evidence; the same peak in an empty row is."""
    held_note = _peaks([float(f) for f in range(0, 100, 3)], [50.0] * 34)
    coverage = clip_coverage(held_note, 1.0, frame_tolerance=2, bin_tolerance=1)
    assert coverage.row_shares[50] == pytest.approx(1.0)
    assert coverage.row_shares[120] == 0.0

    on_the_note = peak_agreement(coverage, np.arange(10, 90, 8), np.full(10, 50))
    assert on_the_note.found == 10
    assert on_the_note.expected_by_chance == pytest.approx(10.0)
    assert on_the_note.score(candidates=1) == 0.0

    rare = PeakAgreement(reference_peaks=10, found=10, expected_by_chance=0.5)
    assert rare.score(candidates=1) > 8.0


def test_more_candidates_checked_ask_for_more_evidence() -> None:
    agreement = PeakAgreement(reference_peaks=60, found=20, expected_by_chance=4.0)
    one, four = agreement.score(candidates=1), agreement.score(candidates=4)
    assert four == pytest.approx(one - np.log10(4))
    assert PeakAgreement(60, 3, 4.0).score(candidates=1) == 0.0  # fewer than chance gives


def test_an_empty_clip_covers_nothing() -> None:
    coverage = clip_coverage(Peaks.empty(), 1.0, 2, 1)
    agreement = peak_agreement(coverage, np.array([0, 5]), np.array([10, 20]))
    assert agreement == PeakAgreement(reference_peaks=0, found=0, expected_by_chance=0.0)


@settings(max_examples=100, deadline=None)
@given(
    entries=st.lists(
        st.tuples(st.integers(1, 4), st.integers(0, 300), st.integers(0, 255)),
        min_size=1,
        max_size=80,
    ),
    track=st.integers(1, 5),
    first=st.integers(0, 300),
    length=st.integers(0, 200),
)
def test_anchor_peaks_are_one_tracks_distinct_anchors_in_the_window(
    entries: list[tuple[int, int, int]], track: int, first: int, length: int
) -> None:
    tracks = np.array([t for t, _, _ in entries])
    frames = np.array([f for _, f, _ in entries])
    anchor_bins = np.array([b for _, _, b in entries])
    # Several hashes share an anchor: other fields differ, the anchor peak is counted once. The
    # anchor field counts half bins; the upper half of a bin is still that bin.
    hashes = pack_hashes(anchor_bins * 2 + frames % 2, frames % 7 - 3, frames % 50 + 2)
    index = HashIndex(hashes, tracks, frames)

    found_frames, found_bins = index.anchor_peaks(track, first, first + length)

    expected = sorted({(f, b) for t, f, b in entries if t == track and first <= f < first + length})
    assert list(zip(found_frames.tolist(), found_bins.tolist(), strict=True)) == expected


@settings(max_examples=200, deadline=None)
@given(
    anchor=st.tuples(st.floats(5, 400), st.floats(50, 200)),
    frames_later=st.floats(2.5, 60),
    bins_higher=st.floats(-40, 40),
)
def test_the_counted_peaks_hold_where_the_index_stores_a_hashs_target(
    anchor: tuple[float, float], frames_later: float, bins_higher: float
) -> None:
    """A reference pair's target is stored (as some hash's anchor) at its rounded frame and
    floored bin; the peak check must leave that position out, or each aligned hash brings a
    free "found" peak. No more than the 2-3 frames by 2 bins its fields allow are left out."""
    frames = np.array([anchor[0], anchor[0] + frames_later])
    bins = np.array([anchor[1], anchor[1] + bins_higher])
    peaks = Peaks(frames=frames, bins=bins, levels_db=np.zeros(2))
    reference = hash_peaks(peaks, FingerprintConfig().for_references())
    assume(len(reference) == 1)
    left_out = counted_peak_positions(reference.anchor_frames, reference.hashes)
    target = int(np.rint(frames[1])) << ANCHOR_BIN_BITS | int(np.floor(bins[1]))
    anchor_peak = int(np.rint(frames[0])) << ANCHOR_BIN_BITS | int(np.floor(bins[0]))
    assert {target, anchor_peak} <= set(left_out.tolist())
    assert len(set(left_out.tolist())) <= 1 + 3 * 2
