"""Identification against the catalog: the entry point for `fingerv7 identify` and for a
stream processor (keep a rolling window of mono PCM, call :meth:`identify_samples`).

The hash index is loaded into memory once (:meth:`refresh` reloads it after catalog changes): the
database stores each track's hashes as one blob and is never asked for a single hash. With
`MatchConfig.low_band_look` the low band's index is loaded too (about a third of the main
index's entries, and its own 64 MiB table of run starts).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy.typing as npt

from fingerv7.catalog.decoding import decode_audio
from fingerv7.catalog.store import CatalogStore, TrackRecord
from fingerv7.core.fingerprint import (
    FingerprintConfig,
    HashIndex,
    LandmarkMatcher,
    Match,
    MatchConfig,
    identify_clip,
    low_band_config,
    low_band_match_config,
)
from fingerv7.core.fingerprint.voting import compile_now as compile_voting


@dataclass(frozen=True, slots=True)
class Identification:
    """A match and the catalog track it names."""

    match: Match
    track: TrackRecord


class CatalogIdentifier:
    """Identifies mono PCM (at `fingerprint_config.sample_rate_hz`) or files against a catalog."""

    def __init__(
        self,
        store: CatalogStore,
        fingerprint_config: FingerprintConfig,
        match_config: MatchConfig,
    ) -> None:
        self.store = store
        self.fingerprint_config = fingerprint_config
        self.match_config = match_config
        self._tracks: dict[int, TrackRecord] = {}
        self._matcher = LandmarkMatcher(HashIndex.empty(), fingerprint_config, match_config)
        self._low_band: LandmarkMatcher | None = None
        self.refresh()
        compile_voting()  # part of loading, not of the first window's identification

    def refresh(self) -> None:
        """Reload tracks and the hash index from the database."""
        self._tracks = {track.id: track for track in self.store.list_tracks()}
        index = self.store.load_index()
        self._matcher = LandmarkMatcher(index, self.fingerprint_config, self.match_config)
        if self.match_config.low_band_look:
            self._low_band = LandmarkMatcher(
                self.store.load_low_band_index(),
                low_band_config(self.fingerprint_config),
                low_band_match_config(self.match_config),
            )

    @property
    def track_count(self) -> int:
        return len(self._tracks)

    def identify_samples(
        self, samples: npt.ArrayLike, on_air: int | None = None
    ) -> Identification | None:
        """The catalog track in `samples`; `on_air` is the track the stream was playing (see
        `LandmarkMatcher.identify`)."""
        match = identify_clip(self._matcher, samples, on_air, self._low_band)
        if match is None:
            return None
        track = self._tracks.get(match.track_id) or self.store.get_track(match.track_id)
        if track is None:  # removed since the index was loaded
            return None
        return Identification(match=match, track=track)

    def identify_file(self, path: Path) -> Identification | None:
        audio = decode_audio(path, self.fingerprint_config.sample_rate_hz)
        return self.identify_samples(audio.samples)
