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

import functools

import numpy as np
import numpy.typing as npt
import scipy.sparse

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
    """Per frame and pitch (in bins): the mean level above the frame's median at the nearest
    bins of the pitch's first `harmonics` multiples, minus the same half-way between them;
    positions above `top_bin` are left out.

    Both means are linear in the levels, so each frame's saliences are one product with a
    fixed pitches x bins weight matrix (`salience_weights`): gathering the levels at every
    pitch's multiples instead cost about a quarter of the second looks' time (docs/fingerprint.md).
    """
    above_median = np.maximum(spectrogram - median_along(spectrogram, axis=1), 0.0)
    weights = salience_weights(spectrogram.shape[1], tuple(pitches.tolist()), harmonics, top_bin)
    # A sparse product, not BLAS: OpenBLAS's threads spin on after a product, and in a worker
    # that spinning doubled the CPU of everything the identification did next.
    salience: npt.NDArray[np.float64] = (weights @ above_median.T).T.astype(np.float64)
    return salience


@functools.lru_cache(maxsize=8)
def salience_weights(
    n_bins: int, pitches: tuple[float, ...], harmonics: int, top_bin: int
) -> scipy.sparse.csr_array:
    """Pitches x bins: each pitch's row averages the nearest bins of its multiples at or under
    `top_bin` and subtracts the average of those half-way between (`_harmonic_salience`).
    Depends on the configuration only, so it is built once per clip shape."""
    pitch = np.asarray(pitches, dtype=np.float64)[:, None]
    multiples = pitch * np.arange(1, harmonics + 1)[None, :]
    weights = np.zeros((pitch.size, n_bins), dtype=np.float32)
    rows = np.broadcast_to(np.arange(pitch.size)[:, None], multiples.shape)
    for positions, sign in ((multiples, 1.0), (multiples + pitch / 2, -1.0)):
        inside = positions <= top_bin
        share = sign / np.maximum(inside.sum(axis=1, keepdims=True), 1)
        nearest = np.rint(positions[inside]).astype(np.intp)
        np.add.at(weights, (rows[inside], nearest), np.broadcast_to(share, inside.shape)[inside])
    return scipy.sparse.csr_array(weights)
