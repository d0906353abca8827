"""The leading pitch of each frame, masked out: a second look at a clip someone talks over.

A presenter over the music hides the music's peaks twice: the voice's harmonics take the peaks
themselves, and a harmonic near a music peak stops it being the maximum of its neighbourhood.
Measured with the voice known (the corpus's presenter snippets, the cells where the voice is
louder than the music masked), 116 of 117 snippets were named against 107 plainly
(docs/fingerprint.md, "A second look without the voice").

Without the voice known, a voice is the strongest harmonic series of most of its frames: a
pitch in the voice's range and its multiples. Each frame's pitch is taken where the spectrum
stands out of the frame most at the pitch's harmonics and least half-way between them (so
neither half nor twice the pitch wins), and where it stands out clearly, the bins around its
harmonics are masked below the silence floor, which no peak passes. The rest of the clip keeps
its levels, so the music between the harmonics is picked as usual. Music has a leading pitch
too (a melody), so this is a second look, taken when the first names nothing (clip.py,
`MatchConfig.second_look_tracks`): it costs only the clips that are named plainly nothing,
and the ones it masks a melody in lose nothing they had.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fingerv7.core.fingerprint.config import FingerprintConfig
from fingerv7.core.fingerprint.peaks import median_along

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

# Far under any `silence_floor_db`: a masked cell is never a peak and never a neighbour's rival.
MASKED_LEVEL_DB = -200.0


def leading_pitch_mask(spectrogram: FloatArray, config: FingerprintConfig) -> BoolArray:
    """Cells (frames x bins) near the harmonics of each frame's leading pitch, in the frames
    where that pitch stands out by `voice_min_salience_db`; none elsewhere."""
    n_frames, n_bins = spectrogram.shape
    top_bin = min(config.max_frequency_bin, n_bins - 1)
    hz_per_bin = config.sample_rate_hz / config.fft_size
    low_hz, high_hz = config.voice_pitch_range_hz
    pitches = np.arange(low_hz / hz_per_bin, high_hz / hz_per_bin, config.voice_pitch_step_bins)
    if n_frames == 0 or pitches.size == 0:
        return np.zeros((n_frames, n_bins), dtype=bool)
    salience = _harmonic_salience(spectrogram, pitches, config.voice_pitch_harmonics, top_bin)
    best = np.argmax(salience, axis=1)
    leading = pitches[best]
    voiced = salience[np.arange(n_frames), best] > config.voice_min_salience_db
    bins = np.arange(n_bins, dtype=np.float64)
    harmonic = np.rint(bins[None, :] / leading[:, None])
    # A pitch moves within a frame and its estimate is a fraction of a bin off: both move the
    # k-th harmonic k times as far, so the masked band widens with k.
    half_width = config.voice_mask_half_width_bins + config.voice_mask_widening * harmonic
    mask: BoolArray = np.abs(bins[None, :] - harmonic * leading[:, None]) <= half_width
    mask &= (harmonic >= 1) & voiced[:, None]
    return mask


def without_leading_pitch(spectrogram: FloatArray, config: FingerprintConfig) -> FloatArray | None:
    """The spectrogram with `leading_pitch_mask` set below the silence floor; None when no frame
    has a leading pitch (the second look would be the first again)."""
    mask = leading_pitch_mask(spectrogram, config)
    if not mask.any():
        return None
    masked = spectrogram.copy()
    masked[mask] = MASKED_LEVEL_DB
    return masked


def _harmonic_salience(
    spectrogram: FloatArray, pitches: npt.NDArray[np.float64], harmonics: int, top_bin: int
) -> npt.NDArray[np.float64]:
    """Per frame and pitch (in bins): the mean level above the frame's median at the pitch's
    first `harmonics` multiples, minus the same half-way between them; multiples above
    `top_bin` are left out."""
    above_median = np.maximum(spectrogram - median_along(spectrogram, axis=1), 0.0)
    multiples = pitches[:, None] * np.arange(1, harmonics + 1)[None, :]
    between = multiples + pitches[:, None] / 2
    on_score = _mean_at(above_median, multiples, top_bin)
    between_score = _mean_at(above_median, between, top_bin)
    return on_score - between_score


def _mean_at(
    levels: npt.NDArray[np.float32], positions: npt.NDArray[np.float64], top_bin: int
) -> npt.NDArray[np.float64]:
    """Mean of `levels` at the nearest bins of each row of `positions` (pitches x multiples)
    that lie at or under `top_bin`, for every frame: frames x pitches."""
    inside = positions <= top_bin
    nearest = np.rint(np.minimum(positions, top_bin)).astype(np.intp)
    gathered = levels[:, nearest]  # frames x pitches x multiples
    counts = np.maximum(inside.sum(axis=1), 1)
    total: npt.NDArray[np.float64] = (gathered * inside).sum(axis=2) / counts
    return total
