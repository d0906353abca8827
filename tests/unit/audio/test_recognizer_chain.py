"""A chain of recognizers: asked in order, the first answer wins."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from fingerv7.audio import Recognition, RecognizerChain


class ListeningLog:
    """A recognizer that answers from a fixed table and records what it was asked."""

    def __init__(self, name: str, answer: Recognition | None) -> None:
        self.name = name
        self.answer = answer
        self.asked = 0
        self.refreshed = 0

    def recognize(
        self, samples: npt.NDArray[np.float32], on_air: str | None = None
    ) -> Recognition | None:
        self.asked += 1
        return self.answer

    def refresh(self) -> None:
        self.refreshed += 1

    def close(self) -> None:
        pass


def song(recognizer: str) -> Recognition:
    return Recognition("Artist", "Title", f"{recognizer}:1", recognizer, 0.5)


def test_the_first_answer_wins_and_later_recognizers_are_not_asked() -> None:
    catalog, fallback = ListeningLog("catalog", song("catalog")), ListeningLog("shazam", None)
    chain = RecognizerChain([catalog, fallback])
    assert chain.recognize(np.zeros(8000, dtype=np.float32)) == song("catalog")
    assert (catalog.asked, fallback.asked) == (1, 0)
    assert chain.name == "catalog+shazam"


def test_the_fallback_answers_what_the_first_does_not_know() -> None:
    catalog, fallback = ListeningLog("catalog", None), ListeningLog("shazam", song("shazam"))
    chain = RecognizerChain([catalog, fallback])
    assert chain.recognize(np.zeros(8000, dtype=np.float32)) == song("shazam")
    chain.refresh()
    assert (catalog.refreshed, fallback.refreshed) == (1, 1)


def test_a_chain_needs_a_recognizer() -> None:
    with pytest.raises(ValueError):
        RecognizerChain([])
