"""The discrepancy rule: each (instance, foreign stream) counts once per episode, memory bounded."""

from __future__ import annotations

import pytest

from fingerv7.core.discrepancies import DiscrepancyEpisodes


def test_a_stream_reported_on_every_beat_counts_once() -> None:
    episodes = DiscrepancyEpisodes()

    counted = [episodes.observe("a", [7]) for _ in range(50)]

    assert counted == [[7]] + [[]] * 49


def test_an_episode_ends_when_the_stream_is_no_longer_reported() -> None:
    episodes = DiscrepancyEpisodes()
    assert episodes.observe("a", [7, 8]) == [7, 8]
    assert episodes.observe("a", [8]) == []  # 7's episode ends, 8's goes on
    assert episodes.observe("a", [7, 8]) == [7]  # 7 again: a new episode
    assert episodes.observe("a", []) == []
    assert not episodes.has_open("a") and len(episodes) == 0
    assert episodes.observe("a", [8]) == [8]


def test_instances_are_counted_apart() -> None:
    episodes = DiscrepancyEpisodes()
    assert episodes.observe("a", [7]) == [7]
    assert episodes.observe("b", [7]) == [7]
    assert episodes.observe("a", [7]) == []


def test_a_flood_repeated_counts_each_stream_once() -> None:
    episodes = DiscrepancyEpisodes()
    flood = range(1000)  # the most one heartbeat may list

    assert sum(len(episodes.observe("a", flood)) for _ in range(100)) == 1000


def test_memory_is_bounded_and_the_least_recent_instance_goes_first() -> None:
    episodes = DiscrepancyEpisodes(max_instances=3)
    for instance_id in ("a", "b", "c"):
        episodes.observe(instance_id, [1])
    episodes.observe("a", [1])  # a is recent again; b is now the oldest

    episodes.observe("d", [1])

    assert len(episodes) == 3
    assert not episodes.has_open("b")
    assert episodes.observe("b", [1]) == [1]  # forgotten too early: counted again, never lost
    assert episodes.observe("a", [1]) == []


def test_gone_instances_are_forgotten() -> None:
    episodes = DiscrepancyEpisodes()
    for instance_id in ("a", "b", "c"):
        episodes.observe(instance_id, [1])

    episodes.retain({"a", "z"})
    episodes.forget("a")

    assert len(episodes) == 0


def test_at_least_one_instance_is_remembered() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        DiscrepancyEpisodes(max_instances=0)
