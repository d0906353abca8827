"""The durable buffer keeps plays in append order, across reopening, until removed."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from fingerv7.playlog import Play, PlayBuffer

START = datetime(2025, 8, 26, 22, 0, tzinfo=UTC)


def play(number: int) -> Play:
    return Play(
        stream_id=1,
        stream_name="Rádio Açaí",
        artist=f"Artist {number}",
        song_title=f"Song {number}",
        heard_at=START + timedelta(seconds=number),
        identified_by="fingerv7-001",
        cidade="São Paulo",
    )


def test_plays_survive_reopening_in_order(tmp_path: Path) -> None:
    path = tmp_path / "buffer.sqlite3"
    buffer = PlayBuffer(path)
    seqs = [buffer.append(play(n)) for n in range(5)]
    assert seqs == sorted(seqs)
    buffer.remove(seqs[1])
    buffer.close()

    reopened = PlayBuffer(path)
    assert [entry.play for entry in reopened.oldest(10)] == [play(n) for n in (0, 2, 3, 4)]
    assert reopened.append(play(9)) > seqs[-1]  # sequence numbers are never reused
    assert reopened.pending_count() == 5
    reopened.close()


def test_a_rejected_play_leaves_the_queue_but_is_kept(tmp_path: Path) -> None:
    buffer = PlayBuffer(tmp_path / "buffer.sqlite3")
    first, second = buffer.append(play(1)), buffer.append(play(2))
    buffer.reject(first, "DataError: value too long")
    assert [entry.seq for entry in buffer.oldest(10)] == [second]
    assert buffer.rejected() == [(play(1), "DataError: value too long")]
    buffer.close()


def test_plays_round_trip_exactly_with_accents_and_nones() -> None:
    original = play(3)
    assert Play.from_json(original.to_json()) == original


operations = st.lists(
    st.one_of(st.just(("append", 0)), st.tuples(st.just("remove"), st.integers(0, 20))),
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(operations)
def test_oldest_is_always_the_model_queue(steps: list[tuple[str, int]]) -> None:
    """Appends and removals in any order: `oldest` equals a plain list kept in parallel."""
    with tempfile.TemporaryDirectory() as folder:
        buffer = PlayBuffer(Path(folder) / "buffer.sqlite3")
        model: list[tuple[int, Play]] = []
        counter = 0
        for action, index in steps:
            if action == "append":
                counter += 1
                model.append((buffer.append(play(counter)), play(counter)))
            elif model:
                seq, _ = model.pop(index % len(model))
                buffer.remove(seq)
        assert [(e.seq, e.play) for e in buffer.oldest(100)] == model
        assert [(e.seq, e.play) for e in buffer.oldest(2)] == model[:2]
        buffer.close()
