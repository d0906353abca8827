"""The catalog's storage interface: tracks and their hashes in PostgreSQL or SQLite.

Adding is idempotent by content: a file whose bytes were already added (under any name) is a
no-op, enforced by a unique constraint so two concurrent `catalog add` runs cannot duplicate it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import Column, Engine, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from fingerv7.catalog.fingerprint_blobs import decode_fingerprint, encode_fingerprint
from fingerv7.catalog.schema import catalog_fingerprints, catalog_tracks, create_catalog_schema
from fingerv7.core.fingerprint import CATALOG_FINGERPRINT_VERSION, Fingerprint, HashIndex

IntArray = npt.NDArray[np.int64]


class StaleCatalogError(RuntimeError):
    """The catalog holds hashes made by another fingerprint version, which today's queries would
    silently fail to match; they must be re-fingerprinted first."""

    def __init__(self, stale_tracks: int) -> None:
        super().__init__(
            f"{stale_tracks} catalog track(s) were fingerprinted by another version than this "
            f"build's ({CATALOG_FINGERPRINT_VERSION}): run `fingerv7 catalog add` on the "
            "original files again (tracks are re-fingerprinted in place, ids kept) and "
            "`fingerv7 catalog remove` fragments learned from streams"
        )
        self.stale_tracks = stale_tracks


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """What we know about a recording from its tags or file name."""

    title: str
    artist: str
    isrc: str | None = None
    label: str | None = None
    genre: str | None = None


@dataclass(frozen=True, slots=True)
class TrackRecord:
    """A catalog row."""

    id: int
    info: TrackInfo
    duration_s: float
    source_path: str
    content_sha256: str
    hash_count: int
    fingerprint_version: int = CATALOG_FINGERPRINT_VERSION

    @property
    def is_stale(self) -> bool:
        """Fingerprinted by another catalog-side algorithm than this build's."""
        return self.fingerprint_version != CATALOG_FINGERPRINT_VERSION


class CatalogStore:
    """Reads and writes the catalog tables through one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_schema(self) -> None:
        create_catalog_schema(self.engine)

    def find_by_content(self, content_sha256: str) -> TrackRecord | None:
        query = select(catalog_tracks).where(catalog_tracks.c.content_sha256 == content_sha256)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _record(row)

    def get_track(self, track_id: int) -> TrackRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(catalog_tracks).where(catalog_tracks.c.id == track_id)
            ).first()
        return None if row is None else _record(row)

    def list_tracks(self) -> list[TrackRecord]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(catalog_tracks).order_by(catalog_tracks.c.id))
            return [_record(row) for row in rows]

    def add_track(
        self,
        info: TrackInfo,
        *,
        duration_s: float,
        source_path: str,
        content_sha256: str,
        fingerprint: Fingerprint,
        low_band: Fingerprint,
    ) -> tuple[TrackRecord, bool]:
        """Insert a track and its hashes (`low_band`: its low band's, `low_band_reference`) in
        one transaction; returns (record, newly_added)."""
        values = {
            "title": info.title,
            "artist": info.artist,
            "isrc": info.isrc,
            "label": info.label,
            "genre": info.genre,
            "duration_s": duration_s,
            "source_path": source_path,
            "content_sha256": content_sha256,
            "hash_count": len(fingerprint),
            "fingerprint_version": CATALOG_FINGERPRINT_VERSION,
        }
        try:
            with self.engine.begin() as connection:
                track_id = int(
                    connection.execute(
                        insert(catalog_tracks).returning(catalog_tracks.c.id), values
                    ).scalar_one()
                )
                connection.execute(
                    insert(catalog_fingerprints),
                    {"track_id": track_id, **_blobs(fingerprint, low_band)},
                )
        except IntegrityError:
            existing = self.find_by_content(content_sha256)
            if existing is None:
                raise
            return existing, False
        record = TrackRecord(
            id=track_id,
            info=info,
            duration_s=duration_s,
            source_path=source_path,
            content_sha256=content_sha256,
            hash_count=len(fingerprint),
        )
        return record, True

    def replace_fingerprint(
        self, track_id: int, fingerprint: Fingerprint, *, low_band: Fingerprint
    ) -> TrackRecord | None:
        """Store a track's hashes made by this build (after a fingerprint version change);
        None if there is no such track."""
        with self.engine.begin() as connection:
            updated = connection.execute(
                update(catalog_tracks)
                .where(catalog_tracks.c.id == track_id)
                .values(
                    hash_count=len(fingerprint), fingerprint_version=CATALOG_FINGERPRINT_VERSION
                )
            )
            if updated.rowcount == 0:
                return None
            connection.execute(
                update(catalog_fingerprints)
                .where(catalog_fingerprints.c.track_id == track_id)
                .values(**_blobs(fingerprint, low_band))
            )
        return self.get_track(track_id)

    def stale_track_count(self) -> int:
        """Tracks whose hashes another fingerprint version made."""
        query = select(func.count()).where(
            catalog_tracks.c.fingerprint_version != CATALOG_FINGERPRINT_VERSION
        )
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def remove_track(self, track_id: int) -> bool:
        """Delete a track and its hashes; False if there was no such track."""
        with self.engine.begin() as connection:
            connection.execute(
                delete(catalog_fingerprints).where(catalog_fingerprints.c.track_id == track_id)
            )
            result = connection.execute(
                delete(catalog_tracks).where(catalog_tracks.c.id == track_id)
            )
        return result.rowcount > 0

    def load_index(self) -> HashIndex:
        """The whole catalog as an in-memory index (what identification uses by default).

        Raises :class:`StaleCatalogError` when some track was fingerprinted by another version:
        its hashes would never line up with today's queries.
        """
        return self._load(catalog_fingerprints.c.entries)

    def load_low_band_index(self) -> HashIndex:
        """The whole catalog's low band (`low_band_config`) as an in-memory index; raises
        :class:`StaleCatalogError` as :meth:`load_index` does."""
        return self._load(catalog_fingerprints.c.low_band_entries)

    def _load(self, blobs: Column[bytes]) -> HashIndex:
        stale = self.stale_track_count()
        if stale:
            raise StaleCatalogError(stale)
        hashes: list[IntArray] = []
        frames: list[IntArray] = []
        track_ids: list[IntArray] = []
        query = select(catalog_fingerprints.c.track_id, blobs).where(blobs.is_not(None))
        with self.engine.connect() as connection:
            for track_id, blob in connection.execution_options(yield_per=256).execute(query):
                track_hashes, track_frames = decode_fingerprint(bytes(blob))
                hashes.append(track_hashes)
                frames.append(track_frames)
                track_ids.append(np.full(track_hashes.size, int(track_id), dtype=np.int64))
        if not hashes:
            return HashIndex.empty()
        return HashIndex(np.concatenate(hashes), np.concatenate(track_ids), np.concatenate(frames))


def _blobs(fingerprint: Fingerprint, low_band: Fingerprint) -> dict[str, bytes]:
    """A track's two fingerprint blobs, by column."""
    return {
        "entries": encode_fingerprint(fingerprint.hashes, fingerprint.anchor_frames),
        "low_band_entries": encode_fingerprint(low_band.hashes, low_band.anchor_frames),
    }


def _record(row: Row[tuple[object, ...]]) -> TrackRecord:
    data = row._mapping
    return TrackRecord(
        id=int(data["id"]),
        info=TrackInfo(
            title=str(data["title"]),
            artist=str(data["artist"]),
            isrc=data["isrc"],
            label=data["label"],
            genre=data["genre"],
        ),
        duration_s=float(data["duration_s"]),
        source_path=str(data["source_path"]),
        content_sha256=str(data["content_sha256"]),
        hash_count=int(data["hash_count"]),
        fingerprint_version=int(data["fingerprint_version"]),
    )
