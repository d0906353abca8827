"""Matching: offset voting finds the right track and offset, under MP3, noise and speed change,
and answers "no match" for silence, noise and music that is not in the catalog."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingerv7.core.fingerprint import (
    Fingerprint,
    FingerprintConfig,
    HashIndex,
    HashLookup,
    HashPostings,
    LandmarkMatcher,
    Match,
    MatchConfig,
    Peaks,
    change_speed,
    fingerprint,
    fingerprint_reference,
    hash_peaks,
)
from fingerv7.core.fingerprint.hashing import hash_peaks_at_speeds
from fingerv7.core.fingerprint.matching import _rarest_within
from tests.audio_factory import (
    SONG_SAMPLE_RATE_HZ,
    mix_at_snr,
    mp3_round_trip,
    resample,
    synthesize_song,
    white_noise,
)

CONFIG = FingerprintConfig()
RATE = CONFIG.sample_rate_hz
SONG_SEEDS = (11, 22, 33, 44, 55, 66)
SONG_S = 30.0


@pytest.fixture(scope="module")
def songs() -> dict[int, np.ndarray]:
    """Catalog songs at the original 22 050 Hz, keyed by track id."""
    return {seed: synthesize_song(seed, SONG_S) for seed in SONG_SEEDS}


@pytest.fixture(scope="module")
def matcher(songs: dict[int, np.ndarray]) -> LandmarkMatcher:
    parts = [
        (fingerprint_reference(resample(song, SONG_SAMPLE_RATE_HZ, RATE), CONFIG), track_id)
        for track_id, song in songs.items()
    ]
    index = HashIndex(
        np.concatenate([fp.hashes for fp, _ in parts]),
        np.concatenate([np.full(len(fp), track_id) for fp, track_id in parts]),
        np.concatenate([fp.anchor_frames for fp, _ in parts]),
    )
    return LandmarkMatcher(index, CONFIG, MatchConfig())


def _clip(song: np.ndarray, start_s: float, seconds: float = 10.0) -> np.ndarray:
    start = int(start_s * SONG_SAMPLE_RATE_HZ)
    return song[start : start + int(seconds * SONG_SAMPLE_RATE_HZ)]


def _query(clip: np.ndarray) -> np.ndarray:
    return mp3_round_trip(clip, SONG_SAMPLE_RATE_HZ, RATE)


@pytest.mark.parametrize(("track_id", "start_s"), [(11, 3.0), (44, 12.5), (66, 19.0)])
def test_mp3_clip_matches_its_track_and_offset(
    songs: dict[int, np.ndarray], matcher: LandmarkMatcher, track_id: int, start_s: float
) -> None:
    match = matcher.identify(fingerprint(_query(_clip(songs[track_id], start_s)), CONFIG))
    assert match is not None
    assert match.track_id == track_id
    assert match.offset_s == pytest.approx(start_s, abs=0.1)
    assert match.speed == pytest.approx(1.0, abs=0.006)
    assert 0.2 < match.confidence <= 1.0
    assert match.aligned_hashes > 3 * match.runner_up_aligned


@pytest.mark.parametrize("speed", [0.97, 0.99, 1.01, 1.03])
def test_speed_changed_clip_still_matches(
    songs: dict[int, np.ndarray], matcher: LandmarkMatcher, speed: float
) -> None:
    clip = change_speed(_clip(songs[33], 8.0), speed)
    match = matcher.identify(fingerprint(_query(clip), CONFIG))
    assert match is not None
    assert match.track_id == 33
    assert match.speed == pytest.approx(speed, abs=0.006)
    assert match.offset_s == pytest.approx(8.0, abs=0.25)


@pytest.mark.parametrize("snr_db", [5.0, 0.0])
def test_clip_in_white_noise_matches(
    songs: dict[int, np.ndarray], matcher: LandmarkMatcher, snr_db: float
) -> None:
    clip = _clip(songs[22], 10.0)
    noisy = mix_at_snr(clip, white_noise(7, clip.size), snr_db)
    match = matcher.identify(fingerprint(_query(noisy), CONFIG))
    assert match is not None
    assert match.track_id == 22
    assert match.offset_s == pytest.approx(10.0, abs=0.1)


def test_silence_noise_and_unknown_music_give_no_match(matcher: LandmarkMatcher) -> None:
    silence = np.zeros(10 * RATE, dtype=np.float32)
    noise = resample(white_noise(3, 10 * SONG_SAMPLE_RATE_HZ), SONG_SAMPLE_RATE_HZ, RATE)
    assert len(fingerprint(silence, CONFIG)) == 0
    assert matcher.identify(fingerprint(silence, CONFIG)) is None
    assert matcher.identify(fingerprint(noise, CONFIG)) is None


def test_unknown_generated_songs_are_refused_by_the_runner_up_test(
    matcher: LandmarkMatcher,
) -> None:
    """Songs of one generator share literal bars (song 903 opens like song 44: 13 hashes line
    up, score 19), which the chance score alone cannot tell from a match (docs/fingerprint.md);
    the runner-up test is what separates them."""
    guarded = LandmarkMatcher(matcher.index, CONFIG, MatchConfig(min_runner_up_ratio=2))
    for seed in (901, 902, 903):
        unknown = fingerprint(_query(synthesize_song(seed, 10.0)), CONFIG)
        assert guarded.identify(unknown) is None


def test_threshold_turns_a_weak_match_into_no_match(songs: dict[int, np.ndarray]) -> None:
    clip = _query(_clip(songs[55], 5.0, seconds=3.0))
    reference = fingerprint_reference(resample(songs[55], SONG_SAMPLE_RATE_HZ, RATE), CONFIG)
    index = HashIndex(reference.hashes, np.full(len(reference), 55), reference.anchor_frames)
    lenient = LandmarkMatcher(index, CONFIG, MatchConfig(min_aligned_hashes=5))
    found = lenient.identify(fingerprint(clip, CONFIG))
    assert found is not None and found.track_id == 55
    strict = MatchConfig(min_aligned_hashes=found.aligned_hashes + 1)
    assert LandmarkMatcher(index, CONFIG, strict).identify(fingerprint(clip, CONFIG)) is None


def test_empty_index_never_matches(songs: dict[int, np.ndarray]) -> None:
    matcher = LandmarkMatcher(HashIndex.empty(), CONFIG, MatchConfig())
    assert matcher.identify(fingerprint(_query(_clip(songs[11], 0.0)), CONFIG)) is None


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    offset_frames=st.integers(0, 5000),
    decoys=st.integers(0, 3),
)
def test_offset_voting_finds_the_planted_offset(seed: int, offset_frames: int, decoys: int) -> None:
    """Plant a query's peaks inside a reference at a known offset, amid random decoy tracks."""
    rng = np.random.default_rng(seed)
    count = 200
    frames = np.sort(rng.uniform(0, 600, count))
    query = Peaks(frames, rng.uniform(10, 230, count), np.zeros(count))
    reference = Peaks(query.frames + offset_frames, query.bins, query.levels_db)
    config = MatchConfig(query_speeds=(1.0,))
    reference_fp = hash_peaks(reference, CONFIG)
    hashes, tracks, anchor_frames = [reference_fp.hashes], [7], [reference_fp.anchor_frames]
    for decoy in range(decoys):
        n = 300
        peaks = Peaks(np.sort(rng.uniform(0, 6000, n)), rng.uniform(10, 230, n), np.zeros(n))
        decoy_fp = hash_peaks(peaks, CONFIG)
        hashes.append(decoy_fp.hashes)
        tracks.append(100 + decoy)
        anchor_frames.append(decoy_fp.anchor_frames)
    index = HashIndex(
        np.concatenate(hashes),
        np.concatenate([np.full(h.size, t) for h, t in zip(hashes, tracks, strict=True)]),
        np.concatenate(anchor_frames),
    )
    match = LandmarkMatcher(index, CONFIG, config).identify(hash_peaks(query, CONFIG))
    assert match is not None
    assert match.track_id == 7
    assert abs(match.offset_s / CONFIG.seconds_per_frame - offset_frames) <= 1


def _sparse_track(seed: int, seconds: float) -> np.ndarray:
    """Two decaying tones every 0.7 s and silence between: a jingle-like track with few peaks."""
    rng = np.random.default_rng(seed)
    rate = SONG_SAMPLE_RATE_HZ
    t = np.arange(int(0.6 * rate)) / rate
    track = np.zeros(int(seconds * rate), dtype=np.float32)
    for start_s in np.arange(0.3, seconds - 0.7, 0.7):
        first = int(start_s * rate)
        for semitone in rng.integers(0, 36, 2):
            tone = 0.3 * np.sin(2 * np.pi * 220 * 2 ** (semitone / 12) * t) * np.exp(-5 * t)
            track[first : first + t.size] += tone.astype(np.float32)
    return track


def test_short_sparse_track_matches_with_few_aligned_hashes(songs: dict[int, np.ndarray]) -> None:
    """The calibrated decision: 9 or so aligned hashes of a sparse track are far beyond chance
    in a small catalog, where the old fixed rule (36 aligned hashes) answered "no match"."""
    sparse = _sparse_track(5, 10.0)
    catalog = {**songs, 99: sparse}
    parts = [
        (fingerprint_reference(resample(song, SONG_SAMPLE_RATE_HZ, RATE), CONFIG), track_id)
        for track_id, song in catalog.items()
    ]
    index = HashIndex(
        np.concatenate([fp.hashes for fp, _ in parts]),
        np.concatenate([np.full(len(fp), track_id) for fp, track_id in parts]),
        np.concatenate([fp.anchor_frames for fp, _ in parts]),
    )
    clip = _query(sparse[SONG_SAMPLE_RATE_HZ : 9 * SONG_SAMPLE_RATE_HZ])
    match = LandmarkMatcher(index, CONFIG, MatchConfig()).identify(fingerprint(clip, CONFIG))
    assert match is not None and match.track_id == 99
    assert match.offset_s == pytest.approx(1.0, abs=0.1)
    assert match.aligned_hashes < 36
    assert match.score >= MatchConfig().min_score


def test_unknown_songs_stay_out(matcher: LandmarkMatcher) -> None:
    """Negatives from the same generator as the catalog (same timbres, keys on one grid) are
    the harsh case; none may pass the calibrated decision."""
    for seed in range(910, 922):
        unknown = _query(synthesize_song(seed, 10.0))
        assert matcher.identify(fingerprint(unknown, CONFIG)) is None


def test_a_shared_loop_is_not_evidence() -> None:
    """Two recordings sharing one repeated loop line up many hits but few distinct hashes: the
    score counts distinct hash values, so the loop alone does not match."""
    rng = np.random.default_rng(4)
    loop_frames = np.array([0.0, 12.0])
    loop_bins = np.array([40.0, 90.0])
    starts = np.arange(0, 40 * 31, 31)  # the loop every 31 frames, 40 times
    loop = Peaks(
        (starts[:, None] + loop_frames).ravel(),
        np.tile(loop_bins, starts.size),
        np.zeros(starts.size * loop_frames.size),
    )
    reference = hash_peaks(loop, CONFIG.for_references())
    config = MatchConfig(query_speeds=(1.0,))
    filler = Peaks(np.sort(rng.uniform(0, 200_000, 60_000)), rng.uniform(10, 230, 60_000),
                   np.zeros(60_000))  # fmt: skip
    filler_fp = hash_peaks(filler, CONFIG.for_references())
    index = HashIndex(
        np.concatenate([reference.hashes, filler_fp.hashes]),
        np.concatenate([np.full(len(reference), 1), np.full(len(filler_fp), 2)]),
        np.concatenate([reference.anchor_frames, filler_fp.anchor_frames]),
    )
    query = hash_peaks(Peaks(loop.frames[:40], loop.bins[:40], loop.levels_db[:40]), CONFIG)
    lenient = MatchConfig(query_speeds=(1.0,), min_score=-1e9, min_aligned_hashes=0)
    best = LandmarkMatcher(index, CONFIG, lenient).identify(query)
    assert best is not None and best.aligned_hashes >= 36
    assert best.distinct_hashes <= 12
    assert LandmarkMatcher(index, CONFIG, config).identify(query) is None


def _index_of(parts: list[tuple[np.ndarray, int]]) -> HashIndex:
    fingerprints = [(fingerprint_reference(pcm, CONFIG), track_id) for pcm, track_id in parts]
    return HashIndex(
        np.concatenate([fp.hashes for fp, _ in fingerprints]),
        np.concatenate([np.full(len(fp), track_id) for fp, track_id in fingerprints]),
        np.concatenate([fp.anchor_frames for fp, _ in fingerprints]),
    )


def test_runner_up_ratio_ignores_a_second_copy_of_the_winner(
    songs: dict[int, np.ndarray],
) -> None:
    """Album and compilation files of one recording line up the same query hashes: the copy is
    not an independent runner-up, so the ratio test still lets the clip match."""
    pcm = {seed: resample(song, SONG_SAMPLE_RATE_HZ, RATE) for seed, song in songs.items()}
    index = _index_of([(pcm[11], 1), (pcm[11], 2), (pcm[22], 3), (pcm[33], 4)])
    strict = LandmarkMatcher(index, CONFIG, MatchConfig(min_runner_up_ratio=3.0))
    match = strict.identify(fingerprint(_query(_clip(songs[11], 4.0)), CONFIG))
    assert match is not None and match.track_id in {1, 2}
    assert match.runner_up_aligned == match.aligned_hashes  # a plain runner-up test would refuse


def test_runner_up_ratio_refuses_two_tracks_equally_supported(
    songs: dict[int, np.ndarray], matcher: LandmarkMatcher
) -> None:
    """Half a clip from one song and half from another: each lines up its own hashes, so
    neither is much better supported than the other and the ratio test says no match."""
    medley = np.concatenate([_clip(songs[11], 4.0, 5.0), _clip(songs[22], 10.0, 5.0)])
    query = fingerprint(_query(medley), CONFIG)
    assert matcher.identify(query) is not None
    strict = LandmarkMatcher(matcher.index, CONFIG, MatchConfig(min_runner_up_ratio=2.0))
    assert strict.identify(query) is None


def test_a_passage_two_recordings_share_is_named_after_the_one_on_air(
    songs: dict[int, np.ndarray],
) -> None:
    """Track 2 reprises 15 s of track 1. In that passage both line up, and the answer follows
    the song the stream was playing; outside it, the song on air does not hold the answer."""
    pcm = {seed: resample(song, SONG_SAMPLE_RATE_HZ, RATE) for seed, song in songs.items()}
    reprise = np.concatenate([pcm[22][: 15 * RATE], pcm[11][5 * RATE : 20 * RATE]])
    shared = LandmarkMatcher(_index_of([(pcm[11], 1), (reprise, 2), (pcm[33], 3)]), CONFIG,
                             MatchConfig())  # fmt: skip
    in_both = fingerprint(_query(_clip(songs[11], 7.0)), CONFIG)
    only_in_2 = fingerprint(_query(_clip(songs[22], 2.0)), CONFIG)

    for on_air in (1, 2):
        match = shared.identify(in_both, on_air=on_air)
        assert match is not None and match.track_id == on_air
    assert shared.identify(in_both, on_air=3) == shared.identify(in_both)  # 3 does not pass
    changed = shared.identify(only_in_2, on_air=1)
    assert changed is not None and changed.track_id == 2  # a real song change is not held back
    assert changed == shared.identify(only_in_2)


class _CountingIndex:
    """The matcher's index, counting how often the whole catalog is searched and how many entries
    such searches gather, and how many hashes each lookup of chosen tracks asks for."""

    def __init__(self, index: HashLookup) -> None:
        self.index = index
        self.whole_lookups = 0
        self.gathered_from_whole = 0
        self.track_lookup_sizes: list[int] = []

    @property
    def frame_count(self) -> int:
        return self.index.frame_count

    def lookup(
        self,
        query: npt.ArrayLike,
        cap: int | None = None,
        counts: npt.NDArray[np.int64] | None = None,
    ) -> HashPostings:
        self.whole_lookups += 1
        found = self.index.lookup(query, cap, counts)
        self.gathered_from_whole += found.size
        return found

    def lookup_tracks(
        self, query: npt.ArrayLike, tracks: Sequence[int], cap: int | None = None
    ) -> HashPostings:
        self.track_lookup_sizes.append(np.asarray(query).size)
        return self.index.lookup_tracks(query, tracks, cap)

    def posting_counts(self, query: npt.ArrayLike, cap: int | None = None) -> npt.NDArray[np.int64]:
        return self.index.posting_counts(query, cap)

    def anchor_peaks(
        self, track_id: int, first_frame: int, end_frame: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        return self.index.anchor_peaks(track_id, first_frame, end_frame)


def _counted_identify(
    matcher: LandmarkMatcher, config: MatchConfig, query: Fingerprint
) -> tuple[Match | None, int]:
    """`identify` under `config` on the matcher's index, and the entries gathered from searches
    of the whole catalog."""
    counting = _CountingIndex(matcher.index)
    found = LandmarkMatcher(counting, CONFIG, config).identify(query)
    return found, counting.gathered_from_whole


def test_the_song_on_air_is_confirmed_from_its_own_entries(
    songs: dict[int, np.ndarray], matcher: LandmarkMatcher
) -> None:
    """The next window of the song on air gets the whole search's answer (track, offset, votes,
    score) without the whole catalog being searched; when the track on air no longer passes,
    the whole search runs and its answer stands."""
    counting = _CountingIndex(matcher.index)
    confirming = LandmarkMatcher(counting, CONFIG, MatchConfig())
    noisy = _clip(songs[44], 12.5)
    clips = {
        11: _clip(songs[11], 3.0),
        # 2% fast: decided under another speed hypothesis than the clip's own hashes'
        33: change_speed(_clip(songs[33], 8.0), 1.02),
        44: mix_at_snr(noisy, white_noise(5, noisy.size), 0.0),
    }
    for track_id, clip in clips.items():
        query = fingerprint(_query(clip), CONFIG)
        whole = matcher.identify(query)
        assert whole is not None and whole.track_id == track_id
        counting.whole_lookups = 0
        assert confirming.identify(query, on_air=track_id) == replace(whole, runner_up_aligned=0)
        assert counting.whole_lookups == 0
        assert confirming.identify(query, on_air=22) == whole
        assert counting.whole_lookups == 1
    unknown = fingerprint(_query(synthesize_song(904, 10.0)), CONFIG)
    assert confirming.identify(unknown, on_air=11) is None


@pytest.mark.parametrize(
    ("speed", "at_clip_speed_first", "lookups"),
    [
        (1.0, True, ["clip"]),
        (1.0, False, ["all"]),
        # 3% fast does not pass under the clip's own speed: all hypotheses are then hashed.
        (1.03, True, ["clip", "all"]),
    ],
)
def test_the_song_on_air_is_checked_first_at_the_clip_speed_alone(
    songs: dict[int, np.ndarray],
    matcher: LandmarkMatcher,
    speed: float,
    at_clip_speed_first: bool,
    lookups: list[str],
) -> None:
    """The song on air is looked up first with the clip's own hashes only (no other speed
    hypothesis hashed); the answer is the whole search's either way."""
    query = fingerprint(_query(change_speed(_clip(songs[33], 8.0), speed)), CONFIG)
    whole = matcher.identify(query)
    assert whole is not None and whole.track_id == 33
    counting = _CountingIndex(matcher.index)
    config = MatchConfig(on_air_at_clip_speed_first=at_clip_speed_first)
    on_air = LandmarkMatcher(counting, CONFIG, config).identify(query, on_air=33)
    assert on_air == replace(whole, runner_up_aligned=0)
    others = [s for s in config.query_speeds if s != 1.0]
    all_hypotheses = len(query) + sum(map(len, hash_peaks_at_speeds(query.peaks, CONFIG, others)))
    sizes = {"clip": len(query), "all": all_hypotheses}
    assert counting.track_lookup_sizes == [sizes[name] for name in lookups]
    assert counting.whole_lookups == 0


def test_with_the_runner_up_test_on_the_whole_catalog_is_always_searched(
    songs: dict[int, np.ndarray], matcher: LandmarkMatcher
) -> None:
    """Other tracks' alignments decide under that test, so the track on air cannot decide alone."""
    counting = _CountingIndex(matcher.index)
    strict = LandmarkMatcher(counting, CONFIG, MatchConfig(min_runner_up_ratio=3.0))
    query = fingerprint(_query(_clip(songs[11], 3.0)), CONFIG)
    match = strict.identify(query, on_air=11)
    assert match is not None and match.track_id == 11
    assert counting.whole_lookups == 1


def test_past_its_budget_the_search_reads_the_rarest_hashes_and_still_finds_the_track(
    songs: dict[int, np.ndarray], matcher: LandmarkMatcher
) -> None:
    """With a budget of a tenth of what the query's hashes point to, the whole catalog gives at
    most that many entries, and the nominated track's answer is the exhaustive search's (votes,
    score, offset, speed); only the runner-up, counted among the nominees, may differ."""
    noisy = _clip(songs[44], 12.5)
    clips = {
        11: _clip(songs[11], 3.0),
        33: change_speed(_clip(songs[33], 8.0), 1.03),
        44: mix_at_snr(noisy, white_noise(5, noisy.size), 0.0),
    }
    for track_id, clip in clips.items():
        query = fingerprint(_query(clip), CONFIG)
        exhaustive = matcher.identify(query)
        assert exhaustive is not None and exhaustive.track_id == track_id
        total = int(matcher.index.posting_counts(matcher._query(query).hashes, 1000).sum())
        budget = total // 10
        config = MatchConfig(max_search_postings=budget, candidate_tracks=2)
        found, gathered = _counted_identify(matcher, config, query)
        assert 0 < gathered <= budget
        assert found is not None
        assert replace(found, runner_up_aligned=0) == replace(exhaustive, runner_up_aligned=0)


@pytest.mark.parametrize("size_limit", ["max_search_postings", "nominate_above_postings"])
def test_at_its_size_limit_the_search_is_exhaustive(
    songs: dict[int, np.ndarray], matcher: LandmarkMatcher, size_limit: str
) -> None:
    """Neither the budget nor nominating engages while a query points to no more entries than
    its limit."""
    query = fingerprint(_query(_clip(songs[66], 19.0)), CONFIG)
    total = int(matcher.index.posting_counts(matcher._query(query).hashes, 1000).sum())
    limits: dict[str, Any] = {size_limit: total}
    found, gathered = _counted_identify(matcher, MatchConfig(**limits), query)
    assert found == matcher.identify(query)
    assert gathered == total


def test_unknown_music_is_refused_under_a_budget_too(matcher: LandmarkMatcher) -> None:
    frugal = LandmarkMatcher(matcher.index, CONFIG, MatchConfig(max_search_postings=500))
    noise = resample(white_noise(3, 10 * SONG_SAMPLE_RATE_HZ), SONG_SAMPLE_RATE_HZ, RATE)
    for clip in (synthesize_song(904, 10.0), noise):
        assert frugal.identify(fingerprint(_query(clip), CONFIG)) is None


EVERY_PERCENT = (1.0, 0.99, 1.01, 0.98, 1.02, 0.97, 1.03)


@pytest.mark.parametrize(
    ("overrides", "nominating_speeds", "rounded_only"),
    [
        ({}, EVERY_PERCENT, True),
        ({"nominate_with_margin": True}, EVERY_PERCENT, False),
        ({"nominating_speed_step": None}, MatchConfig().query_speeds, True),
        ({"nominating_speed_step": 0.015}, (1.0, 0.985, 1.015, 0.97, 1.03), True),
    ],
)
def test_past_a_size_a_part_of_the_query_nominates_and_the_nominee_is_counted_whole(
    songs: dict[int, np.ndarray],
    matcher: LandmarkMatcher,
    overrides: dict[str, Any],
    nominating_speeds: tuple[float, ...],
    rounded_only: bool,
) -> None:
    """A search past `nominate_above_postings` (0 here) gathers from the whole catalog only the
    entries of its pairs' plain roundings under the coarser grid of speed hypotheses, and still
    finds a track played between two of those speeds (1.5% fast) or in loud noise, with the
    exhaustive search's answer (votes, score, offset, speed): the nominee is counted on every
    hash."""
    config = replace(MatchConfig(nominate_above_postings=0, candidate_tracks=2), **overrides)
    noisy = _clip(songs[44], 12.5)
    clips = {
        33: change_speed(_clip(songs[33], 8.0), 1.015),
        22: change_speed(_clip(songs[22], 4.0), 0.975),
        44: mix_at_snr(noisy, white_noise(5, noisy.size), 0.0),
    }
    for track_id, clip in clips.items():
        query = fingerprint(_query(clip), CONFIG)
        exhaustive = matcher.identify(query)
        assert exhaustive is not None and exhaustive.track_id == track_id
        hashed = matcher._query(query)
        numbers = [config.query_speeds.index(speed) for speed in nominating_speeds]
        nominating = np.isin(hashed.hypotheses, numbers)
        if rounded_only:
            nominating &= hashed.rounded
        found, gathered = _counted_identify(matcher, config, query)
        expected = matcher.index.posting_counts(hashed.hashes[nominating], 1000).sum()
        assert 0 < gathered == expected
        assert expected < matcher.index.posting_counts(hashed.hashes, 1000).sum()
        assert found is not None
        assert replace(found, runner_up_aligned=0) == replace(exhaustive, runner_up_aligned=0)


def test_the_nominating_step_must_be_positive() -> None:
    with pytest.raises(ValueError, match="nominating_speed_step"):
        LandmarkMatcher(HashIndex.empty(), CONFIG, MatchConfig(nominating_speed_step=0.0))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=60), st.integers(0, 400))
def test_the_rarest_hashes_are_taken_first_and_fill_the_budget(
    counts: list[int], budget: int
) -> None:
    postings = np.array(counts, dtype=np.int64)
    taken = _rarest_within(postings, budget)
    left = np.setdiff1d(np.flatnonzero(postings > 0), taken)
    assert postings[taken].sum() <= budget
    assert (postings[taken] > 0).all()
    if taken.size and left.size:
        assert postings[taken].max() <= postings[left].min()
    if left.size:  # nothing more would have fitted
        assert postings[taken].sum() + postings[left].min() > budget


def _noisy_query(
    songs: dict[int, np.ndarray], seed: int, start_s: float, speed: float = 1.0
) -> Fingerprint:
    clip = _clip(songs[seed], start_s)
    if speed != 1.0:
        clip = change_speed(clip, speed)
    return fingerprint(_query(mix_at_snr(clip, white_noise(5, clip.size), 0.0)), CONFIG)


@pytest.mark.parametrize("speed", [1.0, 1.03])
def test_peaks_the_vote_did_not_count_carry_a_clip_over_the_bar(
    songs: dict[int, np.ndarray], matcher: LandmarkMatcher, speed: float
) -> None:
    """With the bar just above what the clip's hashes alone score, checking the reference's
    other peaks one by one supplies the rest (at the speed the vote found); with the check
    off, the clip is refused."""
    query = _noisy_query(songs, 22, 10.0, speed)
    found = matcher.identify(query)
    assert found is not None and found.track_id == 22 and found.peak_score == 0.0
    bar = found.score + 3.0
    hashes_only = MatchConfig(min_score=bar, verified_candidates=0)
    assert LandmarkMatcher(matcher.index, CONFIG, hashes_only).identify(query) is None

    checked = LandmarkMatcher(matcher.index, CONFIG, MatchConfig(min_score=bar)).identify(query)
    assert checked is not None and checked.track_id == 22
    assert checked.score == found.score and checked.peak_score >= 3.0
    assert checked.offset_s == pytest.approx(10.0, abs=0.1)
    assert checked.speed == pytest.approx(speed, abs=0.006)


def test_a_vote_winner_the_peaks_do_not_confirm_loses_to_a_track_they_do(
    songs: dict[int, np.ndarray], matcher: LandmarkMatcher
) -> None:
    """A decoy holding a few of the clip's hash values, each four frames running, out-votes the
    real track with few distinct hashes and no peaks of its own; the next leading track, checked
    peak by peak, is the answer. Checking only the leader finds nothing."""
    query = _noisy_query(songs, 22, 10.0)
    assert isinstance(matcher.index, HashIndex)
    hashes, tracks, frames = (np.asarray(column) for column in matcher.index.columns()[:3])
    real = LandmarkMatcher(matcher.index, CONFIG, MatchConfig()).identify(query)
    assert real is not None and real.track_id == 22
    values = np.unique(query.hashes)[: real.aligned_hashes // 4 + 2]
    anchors = np.array([query.anchor_frames[np.flatnonzero(query.hashes == v)[0]] for v in values])
    decoy_frames = (anchors[:, None] + 50_000 + np.arange(4)).ravel()
    index = HashIndex(
        np.concatenate([hashes, np.repeat(values, 4)]),
        np.concatenate([tracks, np.full(decoy_frames.size, 500)]),
        np.concatenate([frames, decoy_frames]),
    )
    on_air = LandmarkMatcher(index, CONFIG, MatchConfig(min_score=-1e9)).identify(query, 22)
    assert on_air is not None  # the real track's hashes alone, in this index
    bar = on_air.score + 2.0
    unchecked = MatchConfig(min_score=-1e9, verified_candidates=0)
    leader = LandmarkMatcher(index, CONFIG, unchecked).identify(query)
    assert (
        leader is not None
        and leader.track_id == 500
        and leader.aligned_hashes > real.aligned_hashes
    )
    assert leader.score < bar

    found = LandmarkMatcher(index, CONFIG, MatchConfig(min_score=bar)).identify(query)
    assert found is not None and found.track_id == 22 and found.peak_score >= 2.0
    only_leader = MatchConfig(min_score=bar, verified_candidates=1)
    assert LandmarkMatcher(index, CONFIG, only_leader).identify(query) is None


def test_the_check_never_holds_the_song_on_air_past_a_song_change(
    songs: dict[int, np.ndarray], matcher: LandmarkMatcher
) -> None:
    """A window with the old song's last 1.4 s and the new song's first 8.6 s, in noise: the
    old song's few hashes plus its peaks could pass (its hashes alone score about 12 of the
    18 needed; with 1.7 s they pass alone since the finer hashes of version 4), but the hashes
    name the new song, and an answer the hashes give is never overridden by the check."""
    old, new = _clip(songs[11], 23.6, 1.4), _clip(songs[33], 5.0, 8.6)
    window = np.concatenate([old, new])
    query = fingerprint(_query(mix_at_snr(window, white_noise(44, window.size), 0.0)), CONFIG)
    hashes_only = LandmarkMatcher(matcher.index, CONFIG, MatchConfig(verified_candidates=0))
    expected = hashes_only.identify(query, on_air=11)
    assert expected is not None and expected.track_id == 33
    assert matcher.identify(query, on_air=11) == expected
