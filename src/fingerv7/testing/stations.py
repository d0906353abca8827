"""Stations that play songs a catalog knows: what `fingerv7 demo` (and the tests) listen to.

`demo_songs()` makes a few songs, `add_to_catalog()` fingerprints them into a catalog (skipping
those already there, so a restarted demo reuses its catalog), and `DemoStations` serves them from
a few local radios in different orders; each station has its own URL on one of those radios.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from scipy.signal import resample_poly
from sqlalchemy import Engine

from fingerv7.catalog import CatalogStore, TrackInfo
from fingerv7.core.fingerprint import FingerprintConfig, fingerprint_reference, low_band_reference
from fingerv7.testing.radio import LocalRadio, RadioSong
from fingerv7.testing.songs import SONG_SAMPLE_RATE_HZ, FloatArray, synthesize_song


def demo_songs(seeds: Sequence[int], duration_s: float) -> list[RadioSong]:
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


def resample(samples: FloatArray, from_rate_hz: int, to_rate_hz: int) -> FloatArray:
    """Band-limited sample-rate conversion (e.g. 22 050 Hz songs to the 8 kHz fingerprint rate)."""
    divisor = int(np.gcd(from_rate_hz, to_rate_hz))
    converted = resample_poly(
        np.asarray(samples, dtype=np.float64), to_rate_hz // divisor, from_rate_hz // divisor
    )
    return converted.astype(np.float32)


def add_to_catalog(engine: Engine, songs: Sequence[RadioSong]) -> CatalogStore:
    """Fingerprint `songs` into the catalog at `engine` (schema created if missing)."""
    store = CatalogStore(engine)
    store.create_schema()
    config = FingerprintConfig()
    for song in songs:
        digest = hashlib.sha256(song.samples.tobytes()).hexdigest()
        existing = store.find_by_content(digest)
        if existing is not None and not existing.is_stale:
            continue
        samples = resample(song.samples, song.sample_rate_hz, config.sample_rate_hz)
        if existing is not None:  # made by an older release: its hashes no longer line up
            store.replace_fingerprint(
                existing.id,
                fingerprint_reference(samples, config),
                low_band=low_band_reference(samples, config),
            )
            continue
        store.add_track(
            TrackInfo(title=song.title, artist=song.artist, genre="Test"),
            duration_s=song.duration_s,
            source_path=f"generated/{song.title}",
            content_sha256=digest,
            fingerprint=fingerprint_reference(samples, config),
            low_band=low_band_reference(samples, config),
        )
    return store


class DemoStations:
    """`programmes` radios, each playing all songs in its own order, shared by the stations."""

    def __init__(self, songs: Sequence[RadioSong], programmes: int = 3) -> None:
        count = max(1, min(programmes, len(songs)))
        self.radios = [LocalRadio(list(songs[i:]) + list(songs[:i])) for i in range(count)]

    def url(self, station: int) -> str:
        return f"{self.radios[station % len(self.radios)].url}?station={station}"

    def start(self) -> DemoStations:
        for radio in self.radios:
            radio.start()
        return self

    def stop(self) -> None:
        for radio in self.radios:
            radio.stop()
