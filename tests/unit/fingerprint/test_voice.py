"""The voice mask of the second look: each frame's leading pitch masked at its harmonics, so the
music between them is picked again (the looks themselves: test_second_looks.py)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fingerv7.core.fingerprint import (
    FingerprintConfig,
    spectrogram_db,
)
from fingerv7.core.fingerprint.voice import (
    MASKED_LEVEL_DB,
    _harmonic_salience,
    leading_pitch_mask,
    without_leading_pitch,
)
from tests.audio_factory import harmonic_voice, white_noise

CONFIG = FingerprintConfig()
RATE = CONFIG.sample_rate_hz
HZ_PER_BIN = RATE / CONFIG.fft_size


def test_a_held_pitch_is_masked_at_its_harmonics_and_a_tone_between_them_is_not() -> None:
    t = np.arange(5 * RATE) / RATE
    tone_hz = 7.5 * 150.0  # half-way between the 7th and 8th harmonics
    clip = harmonic_voice(1, 5.0, pitch_hz=150.0) + 0.3 * np.sin(2 * np.pi * tone_hz * t)
    mask = leading_pitch_mask(spectrogram_db(clip, CONFIG), CONFIG)
    inner = mask[10:-10]  # frames whose window lies wholly inside the clip
    for harmonic in (2, 5, 11, 20):
        assert inner[:, round(harmonic * 150.0 / HZ_PER_BIN)].all(), harmonic
    assert not inner[:, round(tone_hz / HZ_PER_BIN)].any()
    assert not inner[:, round(7.25 * 150.0 / HZ_PER_BIN)].any()  # nor a quarter-way bin


def test_noise_has_no_leading_pitch_so_there_is_no_second_look() -> None:
    spectrogram = spectrogram_db(white_noise(5, 10 * RATE), CONFIG)
    assert not leading_pitch_mask(spectrogram, CONFIG).any()
    assert without_leading_pitch(spectrogram, CONFIG) is None


def test_the_masked_cells_lie_below_the_silence_floor_and_the_rest_keep_their_levels() -> None:
    spectrogram = spectrogram_db(harmonic_voice(2, 3.0), CONFIG)
    mask = leading_pitch_mask(spectrogram, CONFIG)
    masked = without_leading_pitch(spectrogram, CONFIG)
    assert masked is not None and mask.any()
    assert (masked[mask] == MASKED_LEVEL_DB).all() and MASKED_LEVEL_DB < CONFIG.silence_floor_db
    np.testing.assert_array_equal(masked[~mask], spectrogram[~mask])


def test_a_clip_shorter_than_a_window_has_no_mask() -> None:
    spectrogram = spectrogram_db(np.zeros(100, dtype=np.float32), CONFIG)
    assert leading_pitch_mask(spectrogram, CONFIG).shape == spectrogram.shape == (0, 257)


@settings(max_examples=40, deadline=None)
@given(
    levels=arrays(
        np.float32,
        st.tuples(st.integers(1, 12), st.integers(30, 80)),
        elements=st.floats(-90, 0, width=32),
    ),
    pitches=st.lists(st.floats(2.0, 25.0), min_size=1, max_size=6),
    harmonics=st.integers(1, 8),
    top_bin=st.integers(10, 79),
)
def test_a_pitch_salience_is_its_harmonics_mean_level_minus_the_mean_half_way_between(
    levels: npt.NDArray[np.float32], pitches: list[float], harmonics: int, top_bin: int
) -> None:
    top_bin = min(top_bin, levels.shape[1] - 1)
    above_median = np.maximum(levels - np.median(levels, axis=1, keepdims=True), 0.0)

    def mean_at(positions: list[float]) -> npt.NDArray[np.float64]:
        kept = [round(position) for position in positions if position <= top_bin]
        if not kept:
            return np.zeros(levels.shape[0])
        return np.asarray(above_median[:, kept], dtype=np.float64).mean(axis=1)

    expected = np.stack(
        [
            mean_at([pitch * k for k in range(1, harmonics + 1)])
            - mean_at([pitch * k + pitch / 2 for k in range(1, harmonics + 1)])
            for pitch in pitches
        ],
        axis=1,
    )
    salience = _harmonic_salience(levels, np.asarray(pitches), harmonics, top_bin)
    np.testing.assert_allclose(salience, expected, atol=1e-4)
