"""The voice mask of the second look: each frame's leading pitch masked at its harmonics, so the
music between them is picked again (the looks themselves: test_second_looks.py)."""

from __future__ import annotations

import numpy as np

from fingerv7.core.fingerprint import (
    FingerprintConfig,
    spectrogram_db,
)
from fingerv7.core.fingerprint.voice import (
    MASKED_LEVEL_DB,
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
