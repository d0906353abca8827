"""Peak picking invariants: local maxima, inside the band, density-limited, nothing from silence."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import maximum_filter

from fingerv7.core.fingerprint import FingerprintConfig, find_peaks, spectrogram_db
from fingerv7.core.fingerprint.peaks import median_along

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


BANDED = FingerprintConfig(peaks_per_second=10, density_band_edges=(100,))


def _loud_low_quiet_high(seconds: int) -> np.ndarray:
    """Each second: 12 loud isolated maxima below bin 100 and 12 quiet ones above it."""
    frames_per_block = round(CONFIG.frames_per_second)
    picture = np.full((seconds * frames_per_block, CONFIG.fft_size // 2 + 1), -90, np.float32)
    for block in range(seconds):
        for number in range(12):  # 10 frames or 40 bins apart: each its neighbourhood's maximum
            frame = block * frames_per_block + 2 + 10 * (number // 2)
            picture[frame, 30 + 40 * (number % 2)] = -10.0 - number * 0.1
            picture[frame, 140 + 60 * (number % 2)] = -40.0 - number * 0.1
    return picture


def test_without_bands_the_loudest_region_takes_the_whole_quota() -> None:
    peaks = find_peaks(
        _loud_low_quiet_high(3), FingerprintConfig(peaks_per_second=10, density_band_edges=())
    )
    assert len(peaks) == 30
    assert np.all(peaks.bins < 100)


def test_bands_take_turns_in_the_density_quota() -> None:
    peaks = find_peaks(_loud_low_quiet_high(3), BANDED)
    assert len(peaks) == 30
    assert np.sum(peaks.bins < 100) == 15  # 5 per band and second
    # each band keeps its strongest
    low_levels = np.sort(peaks.levels_db[peaks.bins < 100])[::-1][:5]
    np.testing.assert_allclose(low_levels, [-10.0, -10.0, -10.0, -10.1, -10.1], atol=1e-5)
    high_levels = np.sort(peaks.levels_db[peaks.bins > 100])[::-1][:5]
    np.testing.assert_allclose(high_levels, [-40.0, -40.0, -40.0, -40.1, -40.1], atol=1e-5)


def test_a_band_with_nothing_leaves_its_turns_to_the_others() -> None:
    picture = _loud_low_quiet_high(2)
    picture[:, 100:] = -90.0
    peaks = find_peaks(picture, BANDED)
    assert len(peaks) == 20 and np.all(peaks.bins < 100)


@settings(max_examples=30, deadline=None)
@given(spectrograms())
def test_banded_density_is_capped_per_second(spectrogram: np.ndarray) -> None:
    config = FingerprintConfig(density_band_edges=(22, 49, 109))
    peaks = find_peaks(spectrogram, config)
    unbanded = find_peaks(spectrogram, FingerprintConfig(density_band_edges=()))
    blocks = np.floor(peaks.frames + 0.5).astype(int) // round(config.frames_per_second)
    assert np.bincount(blocks).max(initial=0) <= config.peaks_per_second + 2
    # the same candidates, only chosen differently: never fewer peaks than without bands
    assert len(peaks) == len(unbanded)


def _loud_then_quiet() -> np.ndarray:
    """Two loud seconds, then one quiet second: isolated maxima 30 dB above a quiet frame but
    20 dB under what their bins usually hold (a quiet passage of a louder track), and between
    them maxima only 15 dB above the frame, as noise makes."""
    frames_per_block = round(CONFIG.frames_per_second)
    picture = np.full((3 * frames_per_block, CONFIG.fft_size // 2 + 1), -30, np.float32)
    picture[2 * frames_per_block :] = -80.0
    for frame in range(4, 3 * frames_per_block, 14):
        for bin_ in range(20, 230, 60):  # fewer than the density quota
            loud = frame < 2 * frames_per_block
            picture[frame, bin_] = -5.0 if loud else -50.0
            if not loud:
                picture[frame + 7, bin_ + 15] = -65.0
    return picture


def test_a_quiet_passage_still_gives_peaks_by_standing_out_of_its_frame() -> None:
    picture = _loud_then_quiet()
    quiet_from = 2 * round(CONFIG.frames_per_second)
    with_frame_test = find_peaks(picture, CONFIG)
    bin_test_only = find_peaks(picture, replace(CONFIG, min_peak_db_above_frame_median=None))
    assert np.sum(with_frame_test.frames >= quiet_from) >= 12
    assert np.all(with_frame_test.levels_db[with_frame_test.frames >= quiet_from] == -50.0)
    assert np.sum(bin_test_only.frames >= quiet_from) == 0
    # the loud seconds are unchanged
    assert np.sum(with_frame_test.frames < quiet_from) == np.sum(bin_test_only.frames < quiet_from)


@settings(max_examples=40, deadline=None)
@given(spectrograms())
def test_every_peak_stands_out_of_its_bin_or_of_its_frame(spectrogram: np.ndarray) -> None:
    peaks = find_peaks(spectrogram, CONFIG)
    band = spectrogram[:, CONFIG.min_frequency_bin : CONFIG.max_frequency_bin + 1]
    bin_level = np.median(band, axis=0)
    frame_level = np.median(band, axis=1)
    assert CONFIG.min_peak_db_above_frame_median is not None
    for frame, bin_, level in zip(peaks.frames, peaks.bins, peaks.levels_db, strict=True):
        f, b = int(np.rint(frame)), int(np.rint(bin_)) - CONFIG.min_frequency_bin
        candidates = [
            (ff, bb)
            for ff in (f - 1, f, f + 1)
            for bb in (b - 1, b, b + 1)
            if 0 <= ff < band.shape[0] and 0 <= bb < band.shape[1] and band[ff, bb] == level
        ]
        assert any(
            level > bin_level[bb] + CONFIG.min_peak_db_above_median
            or level > frame_level[ff] + CONFIG.min_peak_db_above_frame_median
            for ff, bb in candidates
        )


@settings(max_examples=60, deadline=None)
@given(spectrograms(), st.sampled_from([0, 1]))
def test_the_fast_median_is_numpys_bit_for_bit(picture: np.ndarray, axis: int) -> None:
    """Odd and even lengths, ties and plateaus: the peaks (and so the catalog's hashes) cannot
    change with it."""
    expected = np.median(picture, axis=axis, keepdims=True)
    found = median_along(picture, axis)
    assert found.dtype == expected.dtype
    assert np.array_equal(found, expected)
