"""The low band: landmarks of 20-160 Hz, heard at 1 kHz with a long window.

The main fingerprint starts at 160 Hz, because kick drums and bass lines repeat the same hashes
there. But some music lives almost wholly below it: the tracks the corpus still missed under a
presenter or pink noise (ambient pads and drones) had 87-99% of their energy under 160 Hz, so
at 0 dB over the whole band the music was 10-20 dB under the voice or the noise where the main
fingerprint looks, while below 160 Hz it stays above them (speech and pink noise put little
energy there). The main band's 64 ms window cannot tell bass notes apart (15.6 Hz per bin is
five semitones at 55 Hz), so the low band decimates the signal 8 times and takes a 256 ms
window: 3.9 Hz per bin, 32 ms per frame, its own hashes in its own index
(docs/fingerprint.md, "The low band").
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import scipy.signal

from fingerv7.core.fingerprint.config import FingerprintConfig, MatchConfig

# 8 kHz -> 1 kHz: what is left (up to 500 Hz) holds the band with room for the filter's edge.
DECIMATION = 8
_TAPS_PER_OUTPUT_SAMPLE = 16
_CUTOFF_HZ = 350.0
# Speed hypotheses of the low band's queries: a 1.5% step moves a 2 s peak pair by under a frame
# (32 ms) and a 160 Hz peak by under a bin (3.9 Hz), where the main band needs 0.5% steps. At
# 1,000 h the low band's search took p95 49 -> 28 ms with these 5 instead of 13, and still named
# every presenter and pink +5 / +10 dB snippet it named with 13 (docs/fingerprint.md).
QUERY_SPEEDS = (1.0, 0.985, 1.015, 0.97, 1.03)


def low_band_config(config: FingerprintConfig) -> FingerprintConfig:
    """The low band's analysis of audio that `config` analyses at `config.sample_rate_hz`.

    Bins 5-41 of a 256-sample window at 1 kHz are 20-160 Hz. Peaks are maxima of a smaller
    area than the main band's (a bin is 4x narrower, a frame 2x longer) and fewer per second:
    a bass line has few notes (10 per second in a query named more and cost less at 1,000 h
    than 15). Every other choice (hash fields, margins, the peak tests) is the main band's.
    Tuned on the corpus, where it met the presenter and pink-noise targets; it added 2 false
    identifications in 10,350 negatives (docs/fingerprint.md, "The low band").
    """
    rate = config.sample_rate_hz // DECIMATION
    return replace(
        config,
        sample_rate_hz=rate,
        fft_size=rate * 256 // 1000,
        hop_size=rate * 32 // 1000,
        min_frequency_bin=5,
        max_frequency_bin=41,
        neighbourhood_frames=3,
        neighbourhood_bins=3,
        reference_neighbourhood_frames=5,
        reference_neighbourhood_bins=5,
        peaks_per_second=10,
        reference_peaks_per_second=5,
        density_band_edges=(),
        reference_density_band_edges=(),
    )


def low_band_match_config(match_config: MatchConfig) -> MatchConfig:
    """The decision of `match_config` under the low band's coarser speed grid (`QUERY_SPEEDS`)."""
    return replace(match_config, query_speeds=QUERY_SPEEDS)


class Decimator:
    """Low-pass and keep every `DECIMATION`-th sample, chunk by chunk: the samples out do not
    depend on where the chunks were cut, so `catalog add` (a file in chunks) and a stream
    window (one chunk) see a recording's low band the same way. Only the samples kept are
    computed (a polyphase filter, `scipy.signal.upfirdn`)."""

    def __init__(self, sample_rate_hz: int) -> None:
        self._taps = _low_pass(sample_rate_hz)
        history = self._taps.size - 1 + DECIMATION  # room to line the next chunk up
        self._history = np.zeros(history, dtype=np.float64)
        self._fed = 0  # samples fed so far; kept: those at multiples of DECIMATION

    def feed(self, samples: npt.ArrayLike) -> npt.NDArray[np.float32]:
        chunk = np.asarray(samples, dtype=np.float64).reshape(-1)
        # Enough history that every tap has a sample, and its length such that the first
        # sample upfirdn keeps sits at a multiple of DECIMATION of the whole signal.
        lead = self._taps.size - 1 + self._fed % DECIMATION
        signal = np.concatenate([self._history[self._history.size - lead :], chunk])
        filtered = scipy.signal.upfirdn(self._taps, signal, down=DECIMATION)
        first = -(-lead // DECIMATION)  # outputs before the chunk were given last time
        last = -(-signal.size // DECIMATION)  # outputs past its end need the next chunk
        self._history = np.concatenate([self._history, chunk])[-self._history.size :]
        self._fed += chunk.size
        return filtered[first:last].astype(np.float32)


def decimated(samples: npt.ArrayLike, sample_rate_hz: int) -> npt.NDArray[np.float32]:
    """A whole clip's low band samples (`Decimator` fed once)."""
    return Decimator(sample_rate_hz).feed(samples)


@lru_cache(maxsize=4)
def _low_pass(sample_rate_hz: int) -> npt.NDArray[np.float64]:
    taps: npt.NDArray[np.float64] = scipy.signal.firwin(
        DECIMATION * _TAPS_PER_OUTPUT_SAMPLE + 1, _CUTOFF_HZ, fs=sample_rate_hz
    )
    return taps
