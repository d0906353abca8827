"""The orchestrator's collector settings: a large youngest generation, the others untouched."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from fingerv7.orchestrator.gc_tuning import YOUNG_GENERATION_THRESHOLD, tune_collector


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's defaults
    try:
        yield before
    finally:
        gc.set_threshold(*before)


def test_the_youngest_generation_grows_and_the_older_keep_their_thresholds(thresholds) -> None:
    tune_collector()

    assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, 10, 10)


def test_a_threshold_already_larger_is_kept(thresholds) -> None:
    gc.set_threshold(200_000, 5, 3)

    tune_collector()

    assert gc.get_threshold() == (200_000, 5, 3)
