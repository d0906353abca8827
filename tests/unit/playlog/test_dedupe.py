"""The duplicate rules: one play per run of sightings, the window, the lock key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from fingerv7.playlog import PlayTracker, is_same_play, play_lock_key

START = datetime(2025, 8, 26, 22, 0, tzinfo=UTC)
WINDOW_S = 900.0


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def new_plays(
    tracker: PlayTracker, sightings: Sequence[tuple[str, float]]
) -> list[tuple[str, float]]:
    return [
        (key, seconds)
        for key, seconds in sightings
        if tracker.observe(key, at(seconds)).is_new_play
    ]


def test_a_song_heard_in_consecutive_windows_is_one_play() -> None:
    tracker = PlayTracker(WINDOW_S)
    sightings = [("catalog:1", s) for s in range(0, 240, 5)]
    assert new_plays(tracker, sightings) == [("catalog:1", 0)]


def test_a_song_longer_than_the_window_is_still_one_play() -> None:
    tracker = PlayTracker(WINDOW_S)
    sightings = [("catalog:7", s) for s in range(0, 1500, 15)]  # a 25-minute track
    assert new_plays(tracker, sightings) == [("catalog:7", 0)]


def test_another_song_in_between_starts_a_new_play() -> None:
    tracker = PlayTracker(WINDOW_S)
    sightings = [("a", 0), ("a", 5), ("b", 10), ("b", 15), ("a", 20)]
    assert new_plays(tracker, sightings) == [("a", 0), ("b", 10), ("a", 20)]


def test_silence_as_long_as_the_window_ends_a_play() -> None:
    tracker = PlayTracker(WINDOW_S)
    assert new_plays(tracker, [("a", 0), ("a", 899), ("a", 1799)]) == [("a", 0), ("a", 1799)]


def test_a_zero_window_makes_every_sighting_a_play() -> None:
    tracker = PlayTracker(0)
    assert len(new_plays(tracker, [("a", 0), ("a", 5), ("a", 10)])) == 3


def test_the_play_keeps_its_start_time() -> None:
    tracker = PlayTracker(WINDOW_S)
    tracker.observe("a", at(0))
    assert tracker.observe("a", at(30)).play_started_at == at(0)
    tracker.forget()
    assert tracker.observe("a", at(35)).is_new_play


sightings_strategy = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(min_value=0.1, max_value=2000.0)),
    max_size=60,
)


@given(sightings_strategy)
def test_new_plays_are_exactly_the_starts_of_runs(steps: list[tuple[str, float]]) -> None:
    """Model: a sighting starts a play iff the key changed or the gap reached the window."""
    sightings, now = [], 0.0
    for key, gap in steps:
        now += gap
        sightings.append((key, now))
    expected = [
        (key, seconds)
        for index, (key, seconds) in enumerate(sightings)
        if index == 0
        or sightings[index - 1][0] != key
        or seconds - sightings[index - 1][1] >= WINDOW_S
    ]
    assert new_plays(PlayTracker(WINDOW_S), sightings) == expected


@given(st.integers(-5_000_000, 5_000_000), st.integers(0, 3_600_000))
def test_same_play_is_symmetric_and_strict(offset_ms: int, window_ms: int) -> None:
    first, second, window_s = at(0), at(offset_ms / 1000), window_ms / 1000
    assert is_same_play(first, second, window_s) == is_same_play(second, first, window_s)
    assert is_same_play(first, second, window_s) == (abs(offset_ms) < window_ms)


def test_lock_keys_are_stable_signed_64_bit_and_distinct() -> None:
    key = play_lock_key("music_log", "Radio A", "Artist", "Song")
    assert key == play_lock_key("music_log", "Radio A", "Artist", "Song")
    assert -(2**63) <= key < 2**63
    others = {
        play_lock_key("music_log", "Radio B", "Artist", "Song"),
        play_lock_key("music_log", "Radio A", "Artist 2", "Song"),
        play_lock_key("music_log", "Radio A", "Artist", "Song 2"),
        play_lock_key("other_log", "Radio A", "Artist", "Song"),
        play_lock_key("music_log", "Radio AArtist", "", "Song"),  # no ambiguity by concatenation
    }
    assert key not in others and len(others) == 5
