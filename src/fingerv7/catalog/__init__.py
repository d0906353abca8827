"""The song catalog: tracks and landmark hashes in the database, audio decoding, tags, and
identification of clips against it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fingerv7.catalog.decoding import AudioDecodeError, DecodedAudio, decode_audio
from fingerv7.catalog.engine import (
    DEFAULT_DATABASE_URL,
    CatalogDatabaseSettings,
    create_catalog_engine,
    normalise_database_url,
)
from fingerv7.catalog.ingest import AddResult, AddStatus, CatalogIngestor, audio_files
from fingerv7.catalog.schema import catalog_metadata, create_catalog_schema
from fingerv7.catalog.store import CatalogStore, StaleCatalogError, TrackInfo, TrackRecord

if TYPE_CHECKING:
    from fingerv7.catalog.identification import CatalogIdentifier, Identification


def __getattr__(name: str) -> object:
    """Identification is imported on first use: it loads the matcher's compiled voting loops
    (about 110 MB), which `catalog add` does not need (fingerv7.core.fingerprint)."""
    if name in ("CatalogIdentifier", "Identification"):
        from fingerv7.catalog import identification

        return getattr(identification, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_DATABASE_URL",
    "AddResult",
    "AddStatus",
    "AudioDecodeError",
    "CatalogDatabaseSettings",
    "CatalogIdentifier",
    "CatalogIngestor",
    "CatalogStore",
    "DecodedAudio",
    "Identification",
    "StaleCatalogError",
    "TrackInfo",
    "TrackRecord",
    "audio_files",
    "catalog_metadata",
    "create_catalog_engine",
    "create_catalog_schema",
    "decode_audio",
    "normalise_database_url",
]
