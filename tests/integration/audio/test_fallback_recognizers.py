"""External recognizers against the local fake service: real HTTP, real recognition, its limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fingerv7.audio.fallback import FallbackPolicy, FallbackService
from fingerv7.audio.remote import (
    HttpRecognizer,
    HttpRecognizerConfig,
    RecognizerError,
    parse_field_mapping,
)
from fingerv7.core.fingerprint import FingerprintConfig
from fingerv7.testing.fake_recognition import FakeRecognitionService, KnownSong
from tests.audio_factory import resample
from tests.integration.audio.playlist import radio_songs

RATE_HZ = FingerprintConfig().sample_rate_hz
FIELDS = parse_field_mapping(
    "title=result.title,artist=result.artist,isrc=result.isrc,label=result.label,"
    "genre=result.genre,offset_s=result.offset_s,duration_s=result.duration_s"
)
KEY = "test-key-not-a-secret"


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(tmp_path: Path, clock: FakeClock) -> Iterator[FakeRecognitionService]:
    songs = [
        KnownSong(song, isrc=f"BRXYZ2600{seed}", label="Selo Teste", genre="Pop")
        for seed, song in zip([31, 32], radio_songs([31, 32], 10.0), strict=True)
    ]
    with FakeRecognitionService(
        songs, tmp_path, limit=2, per_s=30.0, api_key=KEY, clock=clock
    ) as service:
        yield service


def clip(seed: int, start_s: float, seconds: float) -> np.ndarray:
    song = radio_songs([seed], 10.0)[0]
    samples = resample(song.samples, song.sample_rate_hz, RATE_HZ)
    return samples[int(start_s * RATE_HZ) : int((start_s + seconds) * RATE_HZ)]


def recognizer(url: str, key: str | None = KEY) -> HttpRecognizer:
    return HttpRecognizer(HttpRecognizerConfig(url=url, api_key=key, fields=FIELDS))


def test_the_http_recognizer_reads_the_answer_through_the_field_mapping(
    fake: FakeRecognitionService,
) -> None:
    http = recognizer(fake.url)
    try:
        named = http.recognize_clip(clip(32, 3.0, 5.0), RATE_HZ)
        unknown = http.recognize_clip(clip(77, 0.0, 5.0), RATE_HZ)
    finally:
        http.close()
    assert named is not None
    assert (named.artist, named.title, named.isrc, named.label) == (
        "Artist 32", "Song 32", "BRXYZ260032", "Selo Teste"
    )  # fmt: skip
    assert named.recognizer == "http" and named.track_key == "isrc:BRXYZ260032"
    assert named.offset_s == pytest.approx(3.0, abs=0.2) and named.duration_s == 10.0
    assert unknown is None


def test_a_wrong_key_is_an_error_that_does_not_show_the_key(
    fake: FakeRecognitionService,
) -> None:
    http = recognizer(fake.url, key="wrong-key-value")
    try:
        with pytest.raises(RecognizerError) as failure:
            http.recognize_clip(clip(31, 0.0, 5.0), RATE_HZ)
    finally:
        http.close()
    assert "401" in str(failure.value) and "wrong-key-value" not in str(failure.value)
    assert fake.unauthorized == 1


def test_a_429_stops_calls_until_retry_after(
    fake: FakeRecognitionService, clock: FakeClock
) -> None:
    policy = FallbackPolicy(window_s=5.0, sample_rate_hz=RATE_HZ, requests_per_minute=600)
    service = FallbackService(["http"], [recognizer(fake.url)], policy, clock=clock)
    try:
        answers = []
        for second in range(3):  # the fake allows 2 in 30 s; the budget would allow 10 a second
            clock.now_s = float(second)
            answers.append(service.ask(second, clip(31, 1.0, 5.0), None))
        assert [a is not None for a in answers] == [True, True, False]
        assert fake.refused == 1
        for second in range(3, 29):  # Retry-After is honoured: nothing reaches the fake
            clock.now_s = float(second)
            assert service.ask(1, clip(31, 1.0, 5.0), None) is None
        assert fake.requests == 3
        clock.now_s = 40.0  # the fake's window has passed
        assert service.ask(1, clip(31, 1.0, 5.0), None) is not None
    finally:
        service.remotes["http"].close()
    metrics = service.metrics()["http"]
    assert (metrics["calls"], metrics["rate_limited"], metrics["named"]) == (4, 1, 3)
    assert metrics["refused_by_budget"] == 26


def test_server_errors_back_off_exponentially(
    fake: FakeRecognitionService, clock: FakeClock
) -> None:
    policy = FallbackPolicy(window_s=5.0, sample_rate_hz=RATE_HZ, requests_per_minute=600)
    service = FallbackService(["http"], [recognizer(fake.url)], policy, clock=clock)
    fake.fail(2)
    try:
        assert service.ask(1, clip(31, 1.0, 5.0), None) is None  # 500: back off 5 s
        clock.now_s = 4.9
        assert service.ask(1, clip(31, 1.0, 5.0), None) is None  # not asked
        clock.now_s = 31.0  # (past the fake's own 30 s window: its limit plays no part)
        assert service.ask(1, clip(31, 1.0, 5.0), None) is None  # 500 again: back off 10 s
        clock.now_s = 40.9
        assert service.ask(1, clip(31, 1.0, 5.0), None) is None
        clock.now_s = 41.0
        assert service.ask(1, clip(31, 1.0, 5.0), None) is not None
    finally:
        service.remotes["http"].close()
    assert fake.requests == 3
    assert service.metrics()["http"]["errors"] == 2
