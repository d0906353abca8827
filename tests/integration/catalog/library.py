"""The small song library the catalog tests ingest: names, seeds and tags in one place."""

from __future__ import annotations

from pathlib import Path

from tests.audio_factory import SONG_SAMPLE_RATE_HZ, encode_audio, synthesize_song

SONG_S = 25.0
ALPHA = "Alpha Band - First Light.mp3"
BETA = "Beta Trio - Second Wind.wav"
TAGGED = "tagged.ogg"
SEEDS = {ALPHA: 101, BETA: 202, TAGGED: 303}
TAGS = {
    TAGGED: {
        "title": "Third Rail",
        "artist": "Gamma Quartet",
        "isrc": "BR-ABC-24-00001",
        "label": "Selo Teste",
        "genre": "Samba",
    }
}


def write_library(folder: Path) -> None:
    """Three songs (MP3, WAV, tagged Ogg Opus) and one file that is not audio."""
    for name, seed in SEEDS.items():
        song = synthesize_song(seed, SONG_S)
        encode_audio(folder / name, song, SONG_SAMPLE_RATE_HZ, tags=TAGS.get(name))
    (folder / "notes.txt").write_text("not audio")


def write_clip(path: Path, name: str, start_s: float, seconds: float = 10.0) -> None:
    """A clip of library song `name`, re-encoded as a low bit-rate MP3."""
    song = synthesize_song(SEEDS[name], SONG_S)
    first = int(start_s * SONG_SAMPLE_RATE_HZ)
    clip = song[first : first + int(seconds * SONG_SAMPLE_RATE_HZ)]
    encode_audio(path, clip, SONG_SAMPLE_RATE_HZ, bitrate=64_000)
