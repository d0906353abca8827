"""Generated songs for the capture tests: a radio playlist and a catalog that knows it."""

from __future__ import annotations

import hashlib

from sqlalchemy import Engine

from fingerv7.catalog import CatalogStore, TrackInfo
from fingerv7.core.fingerprint import FingerprintConfig, fingerprint_reference
from fingerv7.testing.radio import RadioSong
from tests.audio_factory import SONG_SAMPLE_RATE_HZ, resample, synthesize_song


def radio_songs(seeds: list[int], duration_s: float) -> list[RadioSong]:
    """One song per seed, named `Artist <seed>` / `Song <seed>`."""
    return [
        RadioSong(
            artist=f"Artist {seed}",
            title=f"Song {seed}",
            samples=synthesize_song(seed, duration_s),
            sample_rate_hz=SONG_SAMPLE_RATE_HZ,
        )
        for seed in seeds
    ]


def add_to_catalog(engine: Engine, songs: list[RadioSong]) -> CatalogStore:
    """Fingerprint `songs` into the catalog at `engine` (schema created if missing)."""
    store = CatalogStore(engine)
    store.create_schema()
    config = FingerprintConfig()
    for song in songs:
        samples = resample(song.samples, song.sample_rate_hz, config.sample_rate_hz)
        store.add_track(
            TrackInfo(title=song.title, artist=song.artist, genre="Test"),
            duration_s=song.duration_s,
            source_path=f"generated/{song.title}",
            content_sha256=hashlib.sha256(song.samples.tobytes()).hexdigest(),
            fingerprint=fingerprint_reference(samples, config),
        )
    return store
