"""HLS playlists: parsing, choosing a variant, and which segments a live listener fetches."""

from __future__ import annotations

import pytest

from fingerv7.core.hls_playlist import (
    MasterPlaylist,
    MediaPlaylist,
    PlaylistError,
    SegmentCursor,
    parse_playlist,
)

BASE = "http://radio.test/live/index.m3u8"


def media(
    first: int, count: int, *, discontinuity_at: int | None = None, ended: bool = False
) -> str:
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    for sequence in range(first, first + count):
        if sequence == discontinuity_at:
            lines.append("#EXT-X-DISCONTINUITY")
        lines += ["#EXTINF:2.0,", f"seg{sequence}.ts"]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines)


def parsed(text: str) -> MediaPlaylist:
    playlist = parse_playlist(text, BASE)
    assert isinstance(playlist, MediaPlaylist)
    return playlist


def test_a_media_playlist_gives_absolute_urls_sequences_and_durations() -> None:
    playlist = parsed(media(7, 3, discontinuity_at=8))
    assert [s.sequence for s in playlist.segments] == [7, 8, 9]
    assert playlist.segments[0].url == "http://radio.test/live/seg7.ts"
    assert [s.discontinuity for s in playlist.segments] == [False, True, False]
    assert playlist.target_duration_s == 2.0 and not playlist.ended


def test_a_multivariant_playlist_prefers_audio_then_the_lowest_bandwidth() -> None:
    text = (
        '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="mp4a.40.2,avc1"\nhi.m3u8\n'
        "#EXT-X-STREAM-INF:BANDWIDTH=64000\nlo.m3u8\n"
    )
    master = parse_playlist(text, BASE)
    assert isinstance(master, MasterPlaylist)
    assert master.choose() == "http://radio.test/live/lo.m3u8"
    audio = text + '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="x,y",URI="audio/a.m3u8"\n'
    with_audio = parse_playlist(audio, BASE)
    assert isinstance(with_audio, MasterPlaylist)
    assert with_audio.choose() == "http://radio.test/live/audio/a.m3u8"


@pytest.mark.parametrize(
    "text", ["", "<html>", "#EXTM3U\n#EXTINF:2,\nseg.ts\n", "#EXTM3U\n#EXT-X-TARGETDURATION:x\n"]
)
def test_what_is_not_a_playlist_is_refused(text: str) -> None:
    with pytest.raises(PlaylistError):
        parse_playlist(text, BASE)


def test_a_live_listener_starts_near_the_edge_then_takes_only_new_segments() -> None:
    cursor = SegmentCursor()
    steps = cursor.next_steps(parsed(media(0, 6)))
    assert [(s.segment.sequence, s.restart) for s in steps] == [(3, True), (4, False), (5, False)]
    for step in steps:
        cursor.fetched(step.segment)
    again = cursor.next_steps(parsed(media(2, 6)))
    assert [(s.segment.sequence, s.restart) for s in again] == [(6, False), (7, False)]


def test_missed_segments_and_discontinuities_ask_for_a_fresh_decoder() -> None:
    cursor = SegmentCursor()
    cursor.fetched(parsed(media(0, 1)).segments[0])
    steps = cursor.next_steps(parsed(media(4, 3, discontinuity_at=6)))
    assert [(s.segment.sequence, s.restart) for s in steps] == [(4, True), (5, False), (6, True)]
    assert cursor.missed == 3


def test_a_finished_playlist_is_read_from_its_start() -> None:
    steps = SegmentCursor().next_steps(parsed(media(0, 5, ended=True)))
    assert [s.segment.sequence for s in steps] == [0, 1, 2, 3, 4]
