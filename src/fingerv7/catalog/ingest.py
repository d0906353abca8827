"""`catalog add`: files and folders in, fingerprinted tracks in the catalog out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from fingerv7.catalog.decoding import AudioDecodeError, open_audio
from fingerv7.catalog.store import CatalogStore, TrackRecord
from fingerv7.catalog.tags import track_info_from_tags
from fingerv7.core.fingerprint import (
    Decimator,
    FingerprintConfig,
    StreamingFingerprinter,
    low_band_config,
)

AUDIO_SUFFIXES = frozenset(
    {".mp3", ".wav", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac", ".mp4", ".wma", ".aiff"}
)
_MIN_DURATION_S = 1.0


class AddStatus(StrEnum):
    ADDED = "added"
    UNCHANGED = "unchanged"  # same content already in the catalog
    UPDATED = "updated"  # same content, re-fingerprinted: the stored hashes were another version
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AddResult:
    path: Path
    status: AddStatus
    track: TrackRecord | None = None
    error: str | None = None


def audio_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The given files, plus audio files found (recursively, sorted) under given folders."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                child
                for child in path.rglob("*")
                if child.is_file() and child.suffix.lower() in AUDIO_SUFFIXES
            )
        else:
            yield path


def content_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CatalogIngestor:
    """Decodes, tags and fingerprints one file at a time into a :class:`CatalogStore`."""

    def __init__(self, store: CatalogStore, config: FingerprintConfig) -> None:
        self.store = store
        self.config = config

    def add_file(self, path: Path) -> AddResult:
        """Add one file; a file whose content is already catalogued is skipped before decoding."""
        try:
            digest = content_sha256(path)
        except OSError as error:
            return AddResult(path, AddStatus.FAILED, error=str(error))
        existing = self.store.find_by_content(digest)
        if existing is not None and not existing.is_stale:
            return AddResult(path, AddStatus.UNCHANGED, track=existing)
        # Decoded and fingerprinted chunk by chunk: memory does not grow with the track's length.
        streamer = StreamingFingerprinter(self.config.for_references())
        low_band = StreamingFingerprinter(low_band_config(self.config).for_references())
        decimator = Decimator(self.config.sample_rate_hz)
        try:
            with open_audio(path, self.config.sample_rate_hz) as reader:
                tags = reader.tags
                for chunk in reader.blocks(self.config.sample_rate_hz):  # a second at a time
                    streamer.feed(chunk)
                    low_band.feed(decimator.feed(chunk))
        except AudioDecodeError as error:
            return AddResult(path, AddStatus.FAILED, error=str(error))
        if streamer.duration_s < _MIN_DURATION_S:
            return AddResult(path, AddStatus.FAILED, error="shorter than one second")
        if existing is not None:
            updated = self.store.replace_fingerprint(
                existing.id, streamer.finish(), low_band=low_band.finish()
            )
            return AddResult(path, AddStatus.UPDATED, track=updated or existing)
        record, added = self.store.add_track(
            track_info_from_tags(tags, path),
            duration_s=streamer.duration_s,
            source_path=str(path.resolve()),
            content_sha256=digest,
            fingerprint=streamer.finish(),
            low_band=low_band.finish(),
        )
        return AddResult(path, AddStatus.ADDED if added else AddStatus.UNCHANGED, track=record)
