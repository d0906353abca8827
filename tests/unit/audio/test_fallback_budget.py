"""The external recognizer's budget and the music detector (pure, replayed time)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingerv7.core.music_detection import AudioKind, classify_audio
from fingerv7.core.recognition_budget import RecognizerBudget
from tests.audio_factory import mix_at_snr, resample, speech_like_noise, synthesize_song

RATE_HZ = 8000


def test_calls_are_paced_at_the_rate() -> None:
    budget = RecognizerBudget(requests_per_minute=6)  # one every 10 s
    granted = [t for t in range(0, 60) if budget.try_acquire(1, float(t))]
    assert granted == [0, 10, 20, 30, 40, 50]


@settings(max_examples=50, deadline=None)
@given(
    rate=st.floats(min_value=1, max_value=30),
    asks=st.lists(
        st.tuples(st.floats(min_value=0, max_value=600), st.integers(1, 8)), max_size=300
    ),
)
def test_no_sixty_seconds_see_more_than_the_rate(
    rate: float, asks: list[tuple[float, int]]
) -> None:
    budget = RecognizerBudget(requests_per_minute=rate)
    times = [t for t, stream in sorted(asks) if budget.try_acquire(stream, t)]
    for index, start in enumerate(times):
        in_window = [t for t in times[index:] if t < start + 60.0]
        assert len(in_window) <= int(rate) + 1


def test_streams_share_the_budget_fairly() -> None:
    budget = RecognizerBudget(requests_per_minute=6)
    calls = {1: 0, 2: 0, 3: 0}
    for second in range(600):  # every stream asks every second for ten minutes
        for stream in calls:
            if budget.try_acquire(stream, float(second)):
                calls[stream] += 1
    assert sum(calls.values()) == 60
    assert max(calls.values()) - min(calls.values()) <= 1


def test_a_429_waits_for_retry_after_and_errors_back_off_exponentially() -> None:
    budget = RecognizerBudget(requests_per_minute=60, backoff_base_s=2, backoff_max_s=100)
    assert budget.try_acquire(1, 0.0)
    budget.rate_limited(0.0, retry_after_s=30)
    assert not budget.try_acquire(1, 29.0)
    assert budget.try_acquire(1, 30.0)
    budget.failed(30.0)  # second failure in a row: 2 s · 2 = 4 s
    assert budget.blocked_for_s(30.0) == pytest.approx(4.0)
    assert budget.try_acquire(1, 34.0)
    budget.succeeded(named=True)
    budget.failed(40.0)  # the success reset the backoff
    assert budget.blocked_for_s(40.0) == pytest.approx(2.0)
    counters = budget.counters
    assert (counters.calls, counters.rate_limited, counters.errors, counters.named) == (3, 1, 2, 1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_music_speech_and_silence_are_told_apart(seed: int) -> None:
    music = resample(synthesize_song(seed, 10.0), 22050, RATE_HZ)
    speech = resample(speech_like_noise(seed, 10.0), 22050, RATE_HZ)
    assert classify_audio(music, RATE_HZ) is AudioKind.MUSIC
    assert classify_audio(mix_at_snr(music, speech, 0.0), RATE_HZ) is AudioKind.MUSIC  # talk-over
    assert classify_audio(speech, RATE_HZ) is AudioKind.SPEECH
    assert classify_audio(music * 1e-4, RATE_HZ) is AudioKind.SILENCE
    assert classify_audio(np.zeros(RATE_HZ * 5), RATE_HZ) is AudioKind.SILENCE
