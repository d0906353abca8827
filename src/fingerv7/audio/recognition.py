"""Recognizers name the song in a window of audio; they are pluggable and can be chained.

The built-in one is the catalog's landmark matcher. A chain asks each recognizer in turn and
keeps the first answer. External services (Shazam, HTTP APIs) and ICY titles are asked only
after the catalog and under a budget, per stream: see :mod:`fingerv7.audio.fallback`.
Recognizers are called on a worker thread: they may block, and must be safe to call from several
threads at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from fingerv7.catalog import CatalogIdentifier, CatalogStore, create_catalog_engine
from fingerv7.core.fingerprint import FingerprintConfig, MatchConfig

logger = logging.getLogger("fingerv7.audio.recognition")


@dataclass(frozen=True, slots=True)
class Recognition:
    """A named song. `track_key` identifies the recording across windows (same key, same song)."""

    artist: str
    title: str
    track_key: str
    recognizer: str
    confidence: float
    isrc: str | None = None
    label: str | None = None
    genre: str | None = None
    offset_s: float | None = None  # where in the recording the window starts, when known
    duration_s: float | None = None  # the recording's length, when the recognizer says


class Recognizer(Protocol):
    """Names the song in mono float32 PCM at the fingerprint sample rate, or answers None."""

    name: str

    def recognize(
        self, samples: npt.NDArray[np.float32], on_air: str | None = None
    ) -> Recognition | None:
        """`on_air`: the `track_key` of the song this stream is taken to be playing, the last
        one named (held through a few windows that name nothing, core/song_on_air.py). A
        recognizer that can tell prefers it when the window matches it too (a passage two
        recordings share); others ignore it."""
        ...

    def refresh(self) -> None:
        """Reload what answers depend on (e.g. the catalog's index); may block."""
        ...

    def close(self) -> None: ...


class CatalogRecognizer:
    """The catalog matcher (in-memory hash index), reloaded by :meth:`refresh`."""

    name = "catalog"

    def __init__(self, identifier: CatalogIdentifier) -> None:
        self.identifier = identifier

    @classmethod
    def open(
        cls,
        database_url: str,
        fingerprint_config: FingerprintConfig,
        match_config: MatchConfig,
    ) -> CatalogRecognizer:
        """Connect to the catalog (creating empty tables if missing) and load its index."""
        store = CatalogStore(create_catalog_engine(database_url))
        store.create_schema()
        identifier = CatalogIdentifier(store, fingerprint_config, match_config)
        if identifier.track_count == 0:
            logger.warning("[CATALOG] the catalog is empty: nothing will be identified")
        else:
            logger.info("[CATALOG] %d tracks loaded", identifier.track_count)
        return cls(identifier)

    @property
    def sample_rate_hz(self) -> int:
        return self.identifier.fingerprint_config.sample_rate_hz

    def refresh(self) -> None:
        """Reload tracks and hashes (picks up `catalog add` / `remove` made since)."""
        self.identifier.refresh()

    def recognize(
        self, samples: npt.NDArray[np.float32], on_air: str | None = None
    ) -> Recognition | None:
        result = self.identifier.identify_samples(samples, catalog_track_id(on_air))
        if result is None:
            return None
        info = result.track.info
        return Recognition(
            artist=info.artist,
            title=info.title,
            track_key=f"catalog:{result.track.id}",
            recognizer=self.name,
            confidence=result.match.confidence,
            isrc=info.isrc,
            label=info.label,
            genre=info.genre,
            offset_s=result.match.offset_s,
            duration_s=result.track.duration_s,
        )

    def close(self) -> None:
        self.identifier.store.engine.dispose()


class RecognizerChain:
    """Asks each recognizer in order; the first answer wins."""

    def __init__(self, recognizers: Sequence[Recognizer]) -> None:
        if not recognizers:
            raise ValueError("a chain needs at least one recognizer")
        self.recognizers = tuple(recognizers)
        self.name = "+".join(recognizer.name for recognizer in self.recognizers)

    def recognize(
        self, samples: npt.NDArray[np.float32], on_air: str | None = None
    ) -> Recognition | None:
        for recognizer in self.recognizers:
            answer = recognizer.recognize(samples, on_air)
            if answer is not None:
                return answer
        return None

    def refresh(self) -> None:
        for recognizer in self.recognizers:
            recognizer.refresh()

    def close(self) -> None:
        for recognizer in self.recognizers:
            recognizer.close()


def catalog_track_id(track_key: str | None) -> int | None:
    """The catalog track id in a `catalog:<id>` key; None for any other key."""
    if track_key is None or not track_key.startswith("catalog:"):
        return None
    number = track_key.removeprefix("catalog:")
    return int(number) if number.isdigit() else None
