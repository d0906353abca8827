"""The low band (low_band.py): music that lives under 160 Hz, which the main band cannot see, is
named from the catalog's low-band index, and decimating a file in chunks gives the samples a
clip decimated whole gives."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingerv7.core.fingerprint import (
    Decimator,
    Fingerprint,
    FingerprintConfig,
    HashIndex,
    LandmarkMatcher,
    MatchConfig,
    decimated,
    fingerprint_reference,
    identify_clip,
    low_band_config,
    low_band_match_config,
    low_band_reference,
)
from fingerv7.core.fingerprint.low_band import DECIMATION
from tests.audio_factory import bass_line, mix_at_snr, speech_like_noise

CONFIG = FingerprintConfig()
RATE = CONFIG.sample_rate_hz
CATALOG_SEEDS = (1, 2, 3, 4, 5, 6)


def _index(fingerprints: dict[int, Fingerprint]) -> HashIndex:
    return HashIndex(
        np.concatenate([fp.hashes for fp in fingerprints.values()]),
        np.concatenate([np.full(len(fp), track_id) for track_id, fp in fingerprints.items()]),
        np.concatenate([fp.anchor_frames for fp in fingerprints.values()]),
    )


@pytest.fixture(scope="module")
def songs() -> dict[int, np.ndarray]:
    return {seed: bass_line(seed, 30.0) for seed in CATALOG_SEEDS}


@pytest.fixture(scope="module")
def matchers(songs: dict[int, np.ndarray]) -> tuple[LandmarkMatcher, LandmarkMatcher]:
    """The catalog's main index and its low-band index, as `CatalogIdentifier` loads them."""
    main = _index({track: fingerprint_reference(audio, CONFIG) for track, audio in songs.items()})
    low = _index({track: low_band_reference(audio, CONFIG) for track, audio in songs.items()})
    return (
        LandmarkMatcher(main, CONFIG, MatchConfig()),
        LandmarkMatcher(low, low_band_config(CONFIG), low_band_match_config(MatchConfig())),
    )


@pytest.mark.parametrize("track_id", [3, 5])
def test_a_bass_line_under_a_voice_is_named_by_its_low_band_only(
    songs: dict[int, np.ndarray], matchers: tuple[LandmarkMatcher, LandmarkMatcher], track_id: int
) -> None:
    main, low = matchers
    clip = songs[track_id][7 * RATE : 17 * RATE]
    heard = mix_at_snr(clip, speech_like_noise(track_id + 100, 10.0, RATE), 0.0)
    assert identify_clip(main, heard) is None  # nothing of it above 160 Hz
    found = identify_clip(main, heard, low_band=low)
    assert found is not None and found.track_id == track_id
    assert found.offset_s == pytest.approx(7.0, abs=0.1)
    assert found.score >= MatchConfig().min_score + MatchConfig().second_look_extra_score


def test_a_bass_line_not_in_the_catalog_is_not_named(
    matchers: tuple[LandmarkMatcher, LandmarkMatcher],
) -> None:
    main, low = matchers
    for seed in (97, 98, 99):
        heard = mix_at_snr(bass_line(seed, 10.0), speech_like_noise(seed, 10.0, RATE), 0.0)
        assert identify_clip(main, heard, low_band=low) is None


def test_the_low_band_keeps_only_what_is_under_its_cutoff() -> None:
    t = np.arange(4 * RATE) / RATE
    bass, voice = np.sin(2 * np.pi * 80 * t), np.sin(2 * np.pi * 1000 * t)
    kept_bass, kept_voice = decimated(bass, RATE)[100:], decimated(voice, RATE)[100:]
    assert np.sqrt(np.mean(kept_bass**2)) == pytest.approx(np.sqrt(0.5), rel=0.02)
    assert np.sqrt(np.mean(kept_voice**2)) < 0.01 * np.sqrt(0.5)  # 1 kHz would fold to 0


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=6))
def test_decimating_in_chunks_gives_the_samples_of_decimating_whole(cuts: list[int]) -> None:
    signal = np.random.default_rng(len(cuts)).standard_normal(5001).astype(np.float32)
    decimator = Decimator(RATE)
    edges = [0, *sorted(cuts), signal.size]
    parts = [decimator.feed(signal[start:stop]) for start, stop in itertools.pairwise(edges)]
    whole = decimated(signal, RATE)
    assert whole.size == -(-signal.size // DECIMATION)
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-6)
