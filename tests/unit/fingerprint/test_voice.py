"""The second look: each frame's leading pitch masked, so the music between a voice's harmonics
is picked again, and a clip the plain hashes cannot name is named."""

from __future__ import annotations

import numpy as np
import pytest

from fingerv7.core.fingerprint import (
    FingerprintConfig,
    HashIndex,
    LandmarkMatcher,
    MatchConfig,
    fingerprint,
    fingerprint_reference,
    identify_clip,
    spectrogram_db,
)
from fingerv7.core.fingerprint.voice import (
    MASKED_LEVEL_DB,
    leading_pitch_mask,
    without_leading_pitch,
)
from tests.audio_factory import (
    SONG_SAMPLE_RATE_HZ,
    mix_at_snr,
    resample,
    synthesize_song,
    white_noise,
)

CONFIG = FingerprintConfig()
RATE = CONFIG.sample_rate_hz
HZ_PER_BIN = RATE / CONFIG.fft_size
CATALOG_SEEDS = (11, 22, 33)


def _harmonic_voice(seed: int, seconds: float = 10.0, pitch_hz: float | None = None) -> np.ndarray:
    """A voiced vowel: 27 harmonics falling as 1/k, its pitch gliding 110-160 Hz (or held)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    if pitch_hz is None:
        glide = 2 * np.pi * rng.uniform(0.3, 0.8) * t + rng.uniform(0, 2 * np.pi)
        pitch = 135.0 + 25.0 * np.sin(glide)
    else:
        pitch = np.full(t.size, pitch_hz)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 28))
    return np.asarray(voice, dtype=np.float32)


def test_a_held_pitch_is_masked_at_its_harmonics_and_a_tone_between_them_is_not() -> None:
    t = np.arange(5 * RATE) / RATE
    tone_hz = 7.5 * 150.0  # half-way between the 7th and 8th harmonics
    clip = _harmonic_voice(1, 5.0, pitch_hz=150.0) + 0.3 * np.sin(2 * np.pi * tone_hz * t)
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
    spectrogram = spectrogram_db(_harmonic_voice(2, 3.0), CONFIG)
    mask = leading_pitch_mask(spectrogram, CONFIG)
    masked = without_leading_pitch(spectrogram, CONFIG)
    assert masked is not None and mask.any()
    assert (masked[mask] == MASKED_LEVEL_DB).all() and MASKED_LEVEL_DB < CONFIG.silence_floor_db
    np.testing.assert_array_equal(masked[~mask], spectrogram[~mask])


def test_a_clip_shorter_than_a_window_has_no_mask() -> None:
    spectrogram = spectrogram_db(np.zeros(100, dtype=np.float32), CONFIG)
    assert leading_pitch_mask(spectrogram, CONFIG).shape == spectrogram.shape == (0, 257)


@pytest.fixture(scope="module")
def songs() -> dict[int, np.ndarray]:
    """Catalog songs at the fingerprint rate, keyed by track id."""
    return {
        seed: resample(synthesize_song(seed, 30.0), SONG_SAMPLE_RATE_HZ, RATE)
        for seed in CATALOG_SEEDS
    }


@pytest.fixture(scope="module")
def matchers(songs: dict[int, np.ndarray]) -> tuple[LandmarkMatcher, LandmarkMatcher]:
    """The same index with the second look on, and off (the default)."""
    parts = [(fingerprint_reference(audio, CONFIG), track_id) for track_id, audio in songs.items()]
    index = HashIndex(
        np.concatenate([fp.hashes for fp, _ in parts]),
        np.concatenate([np.full(len(fp), track_id) for fp, track_id in parts]),
        np.concatenate([fp.anchor_frames for fp, _ in parts]),
    )
    with_look = LandmarkMatcher(index, CONFIG, MatchConfig(second_look_without_voice=True))
    without = LandmarkMatcher(index, CONFIG, MatchConfig())
    return with_look, without


@pytest.mark.parametrize("voice_seed", [2, 3])
def test_a_song_a_voice_drowns_is_named_at_the_second_look(
    songs: dict[int, np.ndarray],
    matchers: tuple[LandmarkMatcher, LandmarkMatcher],
    voice_seed: int,
) -> None:
    with_look, without = matchers
    clip = mix_at_snr(songs[22][5 * RATE : 15 * RATE], _harmonic_voice(voice_seed), -18.0)
    assert without.identify(fingerprint(clip, CONFIG)) is None
    assert identify_clip(without, clip) is None
    match = identify_clip(with_look, clip)
    assert match is not None and match.track_id == 22
    assert match.offset_s == pytest.approx(5.0, abs=0.1)


@pytest.mark.parametrize("unknown_seed", [77, 88])
def test_an_unknown_song_under_a_voice_stays_unnamed_at_the_second_look(
    matchers: tuple[LandmarkMatcher, LandmarkMatcher], unknown_seed: int
) -> None:
    with_look, _ = matchers
    unknown = resample(synthesize_song(unknown_seed, 12.0), SONG_SAMPLE_RATE_HZ, RATE)
    for snr_db in (-6.0, -18.0):
        clip = mix_at_snr(unknown[: 10 * RATE], _harmonic_voice(3), snr_db)
        assert identify_clip(with_look, clip) is None
