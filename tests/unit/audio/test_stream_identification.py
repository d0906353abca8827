"""When a stream's windows go to a fallback, and what is learned from the answers."""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt

from fingerv7.audio.fallback import (
    FallbackPolicy,
    FallbackService,
    LearningCatalogRecognizer,
)
from fingerv7.audio.recognition import Recognition
from fingerv7.audio.stream_identification import StreamIdentification
from fingerv7.catalog.learning import LearnedAnswer
from fingerv7.core.song_on_air import HELD_WINDOWS
from tests.audio_factory import resample, speech_like_noise, synthesize_song

RATE_HZ = 8000
WINDOW_S = 5.0
MUSIC = resample(synthesize_song(7, WINDOW_S), 22050, RATE_HZ)
SPEECH = resample(speech_like_noise(7, WINDOW_S), 22050, RATE_HZ)
FloatArray = npt.NDArray[np.float32]


class Clock:
    now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


class Catalog:
    """Knows what it is told to know."""

    name = "catalog"

    def __init__(self) -> None:
        self.answer: Recognition | None = None
        self.on_air: list[str | None] = []  # what each call was told was on air

    def recognize(self, samples: FloatArray, on_air: str | None = None) -> Recognition | None:
        self.on_air.append(on_air)
        return self.answer

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass


class Service:
    name = "http"

    def __init__(self, answer: Recognition | None) -> None:
        self.answer = answer
        self.calls = 0
        self.not_before_call = 0  # calls up to this one answer None

    def recognize_clip(self, samples: FloatArray, sample_rate_hz: int) -> Recognition | None:
        self.calls += 1
        return self.answer if self.calls > self.not_before_call else None

    def close(self) -> None:
        pass


class Learner:
    def __init__(self) -> None:
        self.learned: list[tuple[LearnedAnswer, float]] = []

    def learn(self, answer: LearnedAnswer, samples: FloatArray, stream_id: int) -> None:
        self.learned.append((answer, samples.size / RATE_HZ))


def named(offset_s: float | None, duration_s: float | None) -> Recognition:
    return Recognition(
        "Artist", "Song", "isrc:X", "http", 1.0, "X", None, None, offset_s, duration_s
    )


def setup(
    answer: Recognition | None, order: tuple[str, ...] = ("http",)
) -> tuple[StreamIdentification, Catalog, Service, Learner, Clock]:
    clock, catalog, service, learner = Clock(), Catalog(), Service(answer), Learner()
    policy = FallbackPolicy(
        window_s=WINDOW_S, sample_rate_hz=RATE_HZ, hold_s=30.0, requests_per_minute=600
    )
    fallback = FallbackService(
        order,
        [service],
        policy,
        learner=cast(LearningCatalogRecognizer, learner),
        clock=clock,
    )
    return StreamIdentification(1, catalog, fallback), catalog, service, learner, clock


def test_the_catalog_answers_first_and_costs_nothing() -> None:
    stream, catalog, service, _, _ = setup(named(0.0, 60.0))
    catalog.answer = Recognition("A", "T", "catalog:1", "catalog", 0.8)
    assert stream.identify(MUSIC) is catalog.answer
    assert service.calls == 0


def test_the_catalog_is_told_the_song_last_named_through_a_few_windows_that_name_nothing() -> None:
    stream, catalog, _, _, _ = setup(None)
    catalog.answer = Recognition("A", "T", "catalog:1", "catalog", 0.8)
    stream.identify(MUSIC)
    stream.identify(MUSIC)
    catalog.answer = None
    for _ in range(HELD_WINDOWS + 1):  # a presenter over the song, then talk
        stream.identify(SPEECH)
    stream.identify(MUSIC)
    held = ["catalog:1"] * HELD_WINDOWS
    assert catalog.on_air == [None, "catalog:1", "catalog:1", *held, None]


def test_silence_and_a_voice_alone_are_not_sent() -> None:
    stream, _, service, _, _ = setup(named(0.0, 60.0))
    assert stream.identify(SPEECH) is None
    assert stream.identify(np.zeros(RATE_HZ * 5, dtype=np.float32)) is None
    assert service.calls == 0
    assert stream.fallback is not None
    assert stream.fallback.metrics()["fallback"]["skipped_not_music"] == 2


def test_a_named_song_is_learned_to_its_end_and_not_asked_about_again() -> None:
    # The window starts 2 s before the song: the service says offset -2 s, duration 20 s.
    stream, _, service, learner, clock = setup(named(-2.0, 20.0))
    assert stream.identify(MUSIC) is not None
    assert learner.learned[0][0].song_offset_s == 0.0  # the 2 s before the song were cut off
    assert abs(learner.learned[0][1] - 3.0) < 0.01
    # The song began at 97 s and ends at 117 s; windows straddle its end until 122 s.
    for _ in range(10):  # a window every 2 s, to 120 s
        clock.now_s += 2.0
        assert stream.identify(MUSIC) is None  # (this fake catalog never learns)
    assert service.calls == 1
    # Fragments of at least a window while the song surely went on (none after 117 s).
    assert [answer.song_offset_s for answer, _ in learner.learned] == [0.0, 3.0, 9.0]
    clock.now_s += 2.0  # 122 s: past the end by a window: worth asking again
    stream.identify(MUSIC)
    assert service.calls == 2
    # The 4 s pending since 112 s are kept; then what the (fake) service named anew.
    assert [answer.song_offset_s for answer, _ in learner.learned][3:] == [15.0, 0.0]


def test_without_a_duration_only_the_named_window_is_learned() -> None:
    stream, _, service, learner, clock = setup(named(None, None))
    stream.identify(MUSIC)
    for _ in range(14):
        clock.now_s += 2.0
        stream.identify(MUSIC)
    assert len(learner.learned) == 1 and learner.learned[0][0].song_offset_s is None
    assert service.calls == 1  # RECOGNIZER_HOLD_SECONDS = 30
    clock.now_s += 2.0
    stream.identify(MUSIC)
    assert service.calls == 2


def test_icy_titles_come_in_recognizers_order_and_are_never_learned() -> None:
    stream, _, service, learner, _ = setup(named(0.0, 60.0), order=("icy", "http"))
    stream.icy_title = lambda: "Artista - Canção"
    answer = stream.identify(MUSIC)
    assert answer is not None and answer.recognizer == "icy" and answer.title == "Canção"
    assert service.calls == 0 and learner.learned == []


def test_the_start_of_a_song_named_late_is_learned_from_what_was_heard_before() -> None:
    stream, _, service, learner, clock = setup(named(6.0, 60.0))
    service.not_before_call = 2  # two windows the service could not name (say, an intro)
    for _ in range(3):
        stream.identify(MUSIC)
        clock.now_s += 2.0
    # Named at 104 s: the window [99, 104] starts 6 s into the song, which began at 93 s. Heard
    # before the window: [93, 99] of it (the first window [95, 100] and the next 2 s tails).
    assert [answer.song_offset_s for answer, _ in learner.learned] == [2.0, 6.0]
    assert abs(learner.learned[0][1] - 4.0) < 0.01
