"""Peak picking invariants: local maxima, inside the band, density-limited, nothing from silence."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import maximum_filter

from fingerv7.core.fingerprint import FingerprintConfig, find_peaks, spectrogram_db

CONFIG = FingerprintConfig()


@st.composite
def spectrograms(draw: st.DrawFn) -> np.ndarray:
    """Random dB pictures; drawn from a seed because element-wise drawing is far too slow."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    frames = draw(st.integers(3, 300))
    level = draw(st.floats(-90, -10))
    spread = draw(st.floats(0.1, 30))
    picture = rng.normal(level, spread, size=(frames, CONFIG.fft_size // 2 + 1))
    if draw(st.booleans()):  # quantised levels make plateaus and ties
        picture = np.round(picture / 5) * 5
    return np.clip(picture, -120, 0).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(spectrograms())
def test_peaks_are_strong_local_maxima_inside_the_band(spectrogram: np.ndarray) -> None:
    peaks = find_peaks(spectrogram, CONFIG)
    assert np.all(np.diff(peaks.frames) >= 0), "sorted by time"
    band = spectrogram[:, CONFIG.min_frequency_bin : CONFIG.max_frequency_bin + 1]
    size = (2 * CONFIG.neighbourhood_frames + 1, 2 * CONFIG.neighbourhood_bins + 1)
    neighbourhood_max = maximum_filter(band, size=size, mode="nearest")
    assert np.all(peaks.levels_db > CONFIG.silence_floor_db)
    # Refinement moves a peak by at most half a frame/bin from the grid point it was found at.
    for frame, bin_, level in zip(peaks.frames, peaks.bins, peaks.levels_db, strict=True):
        grid_points = [
            (f, b)
            for f in {int(np.floor(frame)), int(np.ceil(frame))}
            for b in {int(np.floor(bin_)), int(np.ceil(bin_))}
            if 0 <= f < band.shape[0]
            and CONFIG.min_frequency_bin <= b <= CONFIG.max_frequency_bin
            and abs(f - frame) <= 0.5
            and abs(b - bin_) <= 0.5
        ]
        assert any(
            band[f, b - CONFIG.min_frequency_bin] == level
            and neighbourhood_max[f, b - CONFIG.min_frequency_bin] == level
            for f, b in grid_points
        )


@settings(max_examples=40, deadline=None)
@given(spectrograms())
def test_density_is_capped_per_second(spectrogram: np.ndarray) -> None:
    peaks = find_peaks(spectrogram, CONFIG)
    frames_per_block = round(CONFIG.frames_per_second)
    blocks = np.floor(peaks.frames + 0.5).astype(int) // frames_per_block
    # sub-frame refinement can move a peak across a block edge by half a frame at most
    assert np.bincount(blocks).max(initial=0) <= CONFIG.peaks_per_second + 2


def test_silence_and_tiny_input_give_no_peaks() -> None:
    assert len(find_peaks(spectrogram_db(np.zeros(80_000), CONFIG), CONFIG)) == 0
    assert len(find_peaks(spectrogram_db(np.ones(100) * 0.5, CONFIG), CONFIG)) == 0


def test_tone_bursts_peak_at_their_frequency() -> None:
    rate = CONFIG.sample_rate_hz
    t = np.arange(rate) / rate
    burst = np.sin(2 * np.pi * 1000.0 * t) * np.exp(-t * 8)
    signal = np.concatenate([np.zeros(rate // 2), burst, burst])
    peaks = find_peaks(spectrogram_db(signal, CONFIG), CONFIG)
    expected_bin = 1000.0 * CONFIG.fft_size / rate
    assert len(peaks) >= 2
    strongest = np.argsort(peaks.levels_db)[-2:]
    assert np.all(np.abs(peaks.bins[strongest] - expected_bin) < 0.3)
