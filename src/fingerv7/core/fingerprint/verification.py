"""Peak-level verification: a second, independent look at an alignment the hash vote proposed.

A hash needs both of its peaks to survive in the clip; a presenter or loud noise hides one peak
in three, and then most pairs are gone (docs/fingerprint.md, "Presenter over music"). Once the
vote has proposed a (track, offset, speed), the reference's peaks in the clip's span can be
checked one by one: a peak that survives counts even when its partners did not.

Null model: a reference peak lands on a clip peak (within the tolerances) by chance with the
share of the clip's time that its frequency row is covered by clip peaks, so a row the clip
fills (a held note, a voice's harmonic) counts for little. The number of chance landings is
Poisson with the sum of those shares as its mean. Peaks the vote already counted (the aligned
hashes' anchors and targets) are left out by the caller, so the check counts only evidence the
vote did not see, and its score adds to the vote's
(:mod:`fingerv7.core.fingerprint.significance`). The model is approximate: music puts its peaks
on notes and beats, so chance agreement has heavier tails than Poisson (docs/fingerprint.md);
the bar is judged on real negatives, not on the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fingerv7.core.fingerprint.hashing import ANCHOR_BIN_BITS
from fingerv7.core.fingerprint.peaks import Peaks
from fingerv7.core.fingerprint.significance import log10_poisson_tail

IntArray = npt.NDArray[np.int64]
_BINS = 1 << ANCHOR_BIN_BITS


@dataclass(frozen=True, slots=True)
class ClipCoverage:
    """Where a clip has peaks, widened by the tolerances: `covered[frame, bin]` for the clip's
    frames under one speed hypothesis, and each bin's share of covered frames."""

    covered: npt.NDArray[np.bool_]
    row_shares: npt.NDArray[np.float64]

    @property
    def frames(self) -> int:
        return int(self.covered.shape[0])


def clip_coverage(
    peaks: Peaks, speed: float, frame_tolerance: int, bin_tolerance: int
) -> ClipCoverage:
    """The clip's peaks heard `speed` times fast, placed as the hashes place them: frame
    rounded, bin floored (a hash's anchor bin), in reference units."""
    frames = np.rint(peaks.frames * speed).astype(np.int64)
    bins = np.floor(peaks.bins / speed).astype(np.int64)
    length = int(frames.max()) + 1 if frames.size else 0
    # Bins out of range are kept: widened by the tolerance they may still cover bins in range.
    usable = frames >= 0
    frames, bins = frames[usable], bins[usable]
    covered = np.zeros((length, _BINS), dtype=bool)
    for frame_step in range(-frame_tolerance, frame_tolerance + 1):
        for bin_step in range(-bin_tolerance, bin_tolerance + 1):
            at_frame, at_bin = frames + frame_step, bins + bin_step
            inside = (at_frame >= 0) & (at_frame < length) & (at_bin >= 0) & (at_bin < _BINS)
            covered[at_frame[inside], at_bin[inside]] = True
    shares = covered.mean(axis=0) if length else np.zeros(_BINS)
    return ClipCoverage(covered=covered, row_shares=shares.astype(np.float64))


@dataclass(frozen=True, slots=True)
class PeakAgreement:
    """How many of the reference's peaks the clip has, against what chance would give."""

    reference_peaks: int
    found: int
    expected_by_chance: float

    def score(self, candidates: int) -> float:
        """-log10 of the chance that the best of `candidates` checked alignments would find
        this many; 0 when it is not better than chance."""
        tail = log10_poisson_tail(self.found, self.expected_by_chance)
        return max(0.0, -(tail + math.log10(max(1, candidates))))


def peak_agreement(
    coverage: ClipCoverage, reference_frames: IntArray, reference_bins: IntArray
) -> PeakAgreement:
    """Check reference peaks (frames relative to the clip's start) against the clip; peaks
    outside the clip's span are not counted."""
    inside = (
        (reference_frames >= 0)
        & (reference_frames < coverage.frames)
        & (reference_bins >= 0)
        & (reference_bins < _BINS)
    )
    frames, bins = reference_frames[inside], reference_bins[inside]
    return PeakAgreement(
        reference_peaks=int(frames.size),
        found=int(coverage.covered[frames, bins].sum()),
        expected_by_chance=float(coverage.row_shares[bins].sum()),
    )
