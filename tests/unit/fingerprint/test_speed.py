"""Speed change moves tempo and pitch together, as a station playing a track fast does."""

from __future__ import annotations

import numpy as np
import pytest

from fingerv7.core.fingerprint import FingerprintConfig, change_speed, find_peaks, spectrogram_db

CONFIG = FingerprintConfig()


@pytest.mark.parametrize("speed", [0.97, 0.99, 1.0, 1.01, 1.03])
def test_speed_change_scales_duration_and_pitch(speed: float) -> None:
    rate = CONFIG.sample_rate_hz
    t = np.arange(2 * rate) / rate
    bursts = np.sin(2 * np.pi * 1000.0 * t) * np.exp(-(t % 0.5) * 10)
    faster = change_speed(bursts, speed)
    assert faster.size == pytest.approx(bursts.size / speed, abs=2)
    peaks = find_peaks(spectrogram_db(faster, CONFIG), CONFIG)
    strongest = peaks.bins[np.argmax(peaks.levels_db)]
    assert strongest == pytest.approx(1000.0 * speed * CONFIG.fft_size / rate, abs=0.3)


def test_invalid_speed_is_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        change_speed(np.zeros(10), 0.0)
