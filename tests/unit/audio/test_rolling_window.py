"""The rolling window always holds exactly the latest audio since the last clear."""

from __future__ import annotations

import threading

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fingerv7.audio import RollingWindow, format_from_content_type
from fingerv7.audio.decoding import ByteFeed


@given(
    st.integers(1, 50),
    st.lists(st.one_of(st.integers(0, 120), st.just(-1)), max_size=30),
)
def test_latest_is_the_tail_of_everything_appended_since_clear(
    capacity: int, steps: list[int]
) -> None:
    window = RollingWindow(capacity)
    model: list[float] = []
    counter = 0.0
    generation = window.generation
    for size in steps:
        if size < 0:
            window.clear()
            model = []
            generation += 1
            continue
        block = np.arange(counter, counter + size, dtype=np.float32)
        counter += size
        window.append(block)
        model.extend(block.tolist())
    samples, seen_generation = window.latest()
    assert samples.tolist() == model[-capacity:] if model else samples.size == 0
    assert window.samples_since_clear == len(model)
    assert seen_generation == generation == window.generation
    assert window.is_full == (len(model) >= capacity)


def test_content_types_name_the_demuxer() -> None:
    assert format_from_content_type("audio/mpeg") == "mp3"
    assert format_from_content_type("audio/aacp; charset=x") == "aac"
    assert format_from_content_type("application/ogg") == "ogg"
    assert format_from_content_type("text/html") is None
    assert format_from_content_type(None) is None


def test_the_feed_hands_over_bytes_in_order_then_end_of_stream() -> None:
    feed = ByteFeed()
    feed.put(b"abcdef")
    feed.put(b"gh")
    assert feed.read(4) == b"abcd"
    assert feed.read(100) == b"ef"
    assert feed.buffered_bytes == 2
    feed.end()
    feed.put(b"ignored after the end")
    assert feed.read(100) == b"gh"
    assert feed.read(100) == b""


def test_abort_wakes_a_blocked_reader_at_once() -> None:
    feed = ByteFeed()
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(feed.read(10)))
    reader.start()
    feed.abort()
    reader.join(timeout=2)
    assert not reader.is_alive() and got == [b""]
    assert feed.aborted
