"""Second looks (clip.py): a clip the plain hashes name nothing in is seen again without its
leading voice, then steadied, and counted only among the tracks that came closest."""

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
from fingerv7.core.fingerprint.clip import fingerprint_spectrogram
from fingerv7.core.fingerprint.matching import Leaders
from fingerv7.core.fingerprint.spectrogram import steadied
from fingerv7.core.fingerprint.voice import without_leading_pitch
from tests.audio_factory import (
    SONG_SAMPLE_RATE_HZ,
    harmonic_voice,
    mix_at_snr,
    resample,
    synthesize_song,
)

CONFIG = FingerprintConfig()
RATE = CONFIG.sample_rate_hz
CATALOG_SEEDS = (11, 22, 33)
AT_CLIP_SPEED = MatchConfig().query_speeds.index(1.0)


@pytest.fixture(scope="module")
def songs() -> dict[int, np.ndarray]:
    """Catalog songs at the fingerprint rate, keyed by track id."""
    return {
        seed: resample(synthesize_song(seed, 30.0), SONG_SAMPLE_RATE_HZ, RATE)
        for seed in CATALOG_SEEDS
    }


@pytest.fixture(scope="module")
def matchers(songs: dict[int, np.ndarray]) -> tuple[LandmarkMatcher, LandmarkMatcher]:
    """The same index with second looks (among 4 leaders), and without."""
    parts = [(fingerprint_reference(audio, CONFIG), track_id) for track_id, audio in songs.items()]
    index = HashIndex(
        np.concatenate([fp.hashes for fp, _ in parts]),
        np.concatenate([np.full(len(fp), track_id) for fp, track_id in parts]),
        np.concatenate([fp.anchor_frames for fp, _ in parts]),
    )
    with_looks = LandmarkMatcher(index, CONFIG, MatchConfig(second_look_tracks=4))
    without = LandmarkMatcher(index, CONFIG, MatchConfig(second_look_tracks=0))
    return with_looks, without


def _drowned(songs: dict[int, np.ndarray], voice_seed: int) -> np.ndarray:
    """Ten seconds of song 22 from 5 s, under a voice 18 dB louder."""
    return mix_at_snr(songs[22][5 * RATE : 15 * RATE], harmonic_voice(voice_seed), -18.0)


@pytest.mark.parametrize("voice_seed", [2, 3])
def test_a_song_a_voice_drowns_is_named_at_a_second_look(
    songs: dict[int, np.ndarray],
    matchers: tuple[LandmarkMatcher, LandmarkMatcher],
    voice_seed: int,
) -> None:
    with_looks, without = matchers
    clip = _drowned(songs, voice_seed)
    assert without.identify(fingerprint(clip, CONFIG)) is None
    assert identify_clip(without, clip) is None
    match = identify_clip(with_looks, clip)
    assert match is not None and match.track_id == 22
    assert match.offset_s == pytest.approx(5.0, abs=0.1)


def test_without_the_voice_the_leaders_line_up_what_the_plain_hashes_did_not(
    songs: dict[int, np.ndarray], matchers: tuple[LandmarkMatcher, LandmarkMatcher]
) -> None:
    with_looks, _ = matchers
    spectrogram = spectrogram_db(_drowned(songs, 2), CONFIG)
    plain = fingerprint_spectrogram(spectrogram, CONFIG)
    leaders = with_looks.search(plain, leaders=4).leaders
    masked = without_leading_pitch(spectrogram, CONFIG)
    assert masked is not None
    assert with_looks.identify_among(plain, leaders) is None
    match = with_looks.identify_among(fingerprint_spectrogram(masked, CONFIG), leaders)
    assert match is not None and match.track_id == 22


def test_a_search_that_names_nothing_gives_its_leaders_and_one_that_names_gives_none(
    songs: dict[int, np.ndarray], matchers: tuple[LandmarkMatcher, LandmarkMatcher]
) -> None:
    with_looks, _ = matchers
    missed = with_looks.search(fingerprint(_drowned(songs, 2), CONFIG), leaders=2)
    assert missed.match is None
    assert missed.leaders.tracks[0] == 22 and len(missed.leaders.tracks) <= 2
    assert AT_CLIP_SPEED in missed.leaders.hypotheses
    assert with_looks.search(fingerprint(_drowned(songs, 2), CONFIG)).leaders == Leaders()
    named = with_looks.search(fingerprint(songs[33][: 10 * RATE], CONFIG), leaders=2)
    assert named.match is not None and named.match.track_id == 33
    assert named.leaders == Leaders()


def test_counting_among_tracks_decides_as_the_whole_search_and_sees_no_other_track(
    songs: dict[int, np.ndarray], matchers: tuple[LandmarkMatcher, LandmarkMatcher]
) -> None:
    with_looks, _ = matchers
    clip = fingerprint(songs[11][8 * RATE : 18 * RATE], CONFIG)
    whole = with_looks.identify(clip)
    among = with_looks.identify_among(clip, Leaders((11,), (AT_CLIP_SPEED,)))
    assert whole is not None and among is not None
    assert (among.track_id, among.offset_s, among.aligned_hashes, among.score) == (
        whole.track_id,
        whole.offset_s,
        whole.aligned_hashes,
        whole.score,
    )
    assert with_looks.identify_among(clip, Leaders((22, 33), (AT_CLIP_SPEED,))) is None
    assert with_looks.identify_among(clip, Leaders()) is None


@pytest.mark.parametrize("unknown_seed", [77, 88])
def test_an_unknown_song_under_a_voice_stays_unnamed_at_the_second_looks(
    matchers: tuple[LandmarkMatcher, LandmarkMatcher], unknown_seed: int
) -> None:
    with_looks, _ = matchers
    unknown = resample(synthesize_song(unknown_seed, 12.0), SONG_SAMPLE_RATE_HZ, RATE)
    for snr_db in (-6.0, -18.0):
        clip = mix_at_snr(unknown[: 10 * RATE], harmonic_voice(3), snr_db)
        assert identify_clip(with_looks, clip) is None


def test_steadying_averages_each_bin_over_frames_and_keeps_a_held_level() -> None:
    held = np.full((40, 257), -30.0, dtype=np.float32)
    flicker = held.copy()
    flicker[::2] -= 10.0  # every other frame 10 dB down
    inner = slice(CONFIG.steady_frames, -CONFIG.steady_frames)
    steady = steadied(flicker, CONFIG)
    assert steady.shape == flicker.shape and steady.dtype == flicker.dtype
    # Each frame averages 5: 2 or 3 of them 10 dB down, so -34 or -36 dB, never -30 or -40.
    assert set(np.round(np.unique(steady[inner]), 3)) == {-36.0, -34.0}
    np.testing.assert_array_equal(steadied(held, CONFIG), held)


def test_what_a_second_look_names_must_clear_the_raised_bar(
    songs: dict[int, np.ndarray], matchers: tuple[LandmarkMatcher, LandmarkMatcher]
) -> None:
    with_looks, _ = matchers
    clip = _drowned(songs, 2)
    named = identify_clip(with_looks, clip)
    assert named is not None and named.track_id == 22
    raised = MatchConfig(second_look_tracks=4, second_look_extra_score=named.score + 1.0)
    strict = LandmarkMatcher(with_looks.index, CONFIG, raised)
    assert identify_clip(strict, clip) is None
