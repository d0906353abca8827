"""ICY metadata is taken out of the byte stream exactly, whatever the chunking."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from fingerv7.audio.fallback import recognition_from_icy
from fingerv7.audio.icy import IcyDemuxer, stream_title
from fingerv7.testing.icy import _IcyWriter, metadata_block


@given(
    audio=st.binary(min_size=0, max_size=3000),
    metaint=st.integers(min_value=1, max_value=400),
    cuts=st.lists(st.integers(min_value=1, max_value=500), max_size=40),
)
def test_the_audio_bytes_come_out_unchanged(audio: bytes, metaint: int, cuts: list[int]) -> None:
    wire = io.BytesIO()
    titles = iter(["A - One", "A - One", *["B - Two"] * 5000])  # repeats are sent as empty
    writer = _IcyWriter(wire, metaint, lambda: next(titles))
    writer.write(audio)
    stream = wire.getvalue()
    demuxer = IcyDemuxer(metaint)
    out, position = bytearray(), 0
    for cut in [*cuts, len(stream)]:
        out += demuxer.feed(stream[position : position + cut])
        position += cut
    assert bytes(out) == audio
    blocks = len(audio) // metaint
    expected = [None, "A - One", "A - One"][blocks] if blocks < 3 else "B - Two"
    assert demuxer.title == expected
    assert demuxer.titles_seen == min(blocks, 1) + (blocks >= 3)


def test_titles_in_utf8_and_latin1_and_without_a_title() -> None:
    assert stream_title(metadata_block("Zé Ramalho - Avôhai")[1:]) == "Zé Ramalho - Avôhai"
    assert stream_title(b"StreamTitle='Jo\xe3o - Can\xe7\xe3o';\0\0") == "João - Canção"
    assert stream_title(b"StreamUrl='x';\0") is None
    assert stream_title(b"StreamTitle='';\0") is None


def test_icy_titles_are_low_trust_recognitions() -> None:
    named = recognition_from_icy("Artist 61 - Song 61")
    assert named is not None
    assert (named.artist, named.title, named.recognizer) == ("Artist 61", "Song 61", "icy")
    assert named.confidence < 0.5
    for not_a_song in (None, "", "Rádio Teste FM", " - Song", "Artist - "):
        assert recognition_from_icy(not_a_song) is None
