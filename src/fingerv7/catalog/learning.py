"""A catalog that learns: fingerprints of audio an external recognizer named, kept as tracks.

When a fallback recognizer (Shazam, a commercial service) names the song in a window, that
window's audio is fingerprinted into `catalog_tracks` as a *fragment*, and so are the following
windows of the same play while the song is known to go on. Each fragment is an ordinary catalog
track (added through :class:`CatalogStore`, so matching needs nothing new); this module's own
table, `catalog_learned`, says which tracks are fragments, of which song, from which recognizer
and stream, with what the service answered, and where in the song the fragment starts.

Fragments of one song are grouped by its key (the ISRC, else artist and title, case-folded), so
what several streams and workers learned of a song names it as one song. A learned song that a
real reference (a track added with `catalog add`) also has, by ISRC or else artist and title, is
merged into it: matches on its fragments are reported as the reference (its metadata, its key).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
)

from fingerv7.catalog.store import CatalogStore, TrackInfo, TrackRecord
from fingerv7.core.fingerprint import FingerprintConfig, fingerprint_reference, low_band_reference

learning_metadata = MetaData()

# Created by the catalog migration c0003. No foreign key to catalog_tracks (separate MetaData);
# rows whose track was removed by `catalog remove` are ignored and pruned.
catalog_learned = Table(
    "catalog_learned",
    learning_metadata,
    Column("track_id", Integer, primary_key=True, autoincrement=False),
    Column("song_key", String(600), nullable=False),
    Column("source", String(64), nullable=False),
    Column("stream_id", Integer, nullable=True),
    Column("song_offset_s", Float, nullable=True),  # where in the song the fragment starts
    Column("song_duration_s", Float, nullable=True),
    Column("answer", Text, nullable=False),  # what the service returned, as JSON
    Column("learned_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_catalog_learned_song_key", "song_key"),
)

LEARNED_PATH_PREFIX = "learned:"


def song_key(artist: str, title: str, isrc: str | None) -> str:
    """What makes two answers the same song: the ISRC, else artist and title (case-folded)."""
    if isrc and isrc.strip():
        return "isrc:" + isrc.strip().upper().replace("-", "")
    return "song:" + " ".join(artist.casefold().split()) + "|" + " ".join(title.casefold().split())


@dataclass(frozen=True, slots=True)
class LearnedAnswer:
    """What an external recognizer said about a window (the metadata a fragment keeps)."""

    source: str
    info: TrackInfo
    song_offset_s: float | None = None
    song_duration_s: float | None = None

    @property
    def key(self) -> str:
        return song_key(self.info.artist, self.info.title, self.info.isrc)


@dataclass(frozen=True, slots=True)
class CanonicalSong:
    """What a match on a fragment reports: the song's key, metadata and the fragment's place."""

    key: str
    info: TrackInfo
    fragment_offset_s: float | None
    song_duration_s: float | None
    merged_into: int | None  # the reference track, when one has this song


@dataclass(frozen=True, slots=True)
class LearnedSong:
    """One learned song, as `fingerv7 catalog learned` lists it."""

    key: str
    info: TrackInfo
    sources: tuple[str, ...]
    track_ids: tuple[int, ...]
    seconds: float
    first_learned: datetime | None
    last_learned: datetime | None
    merged_into: int | None


class LearningCatalog:
    """Adds, lists, forgets learned fragments; maps fragment tracks to their songs."""

    def __init__(self, store: CatalogStore, config: FingerprintConfig) -> None:
        self.store = store
        self.config = config

    @property
    def engine(self) -> Engine:
        return self.store.engine

    def create_schema(self) -> None:
        self.store.create_schema()  # the catalog's Alembic chain creates catalog_learned too

    def learn(
        self,
        answer: LearnedAnswer,
        samples: npt.NDArray[np.float32],
        *,
        stream_id: int | None,
    ) -> TrackRecord:
        """Keep `samples` (mono, at the fingerprint rate) as a fragment of the answer's song."""
        digest = hashlib.sha256(samples.tobytes())
        digest.update(f"{answer.key}|{stream_id}|{answer.song_offset_s}".encode())
        record, added = self.store.add_track(
            answer.info,
            duration_s=samples.size / self.config.sample_rate_hz,
            source_path=f"{LEARNED_PATH_PREFIX}{answer.source}:stream {stream_id}",
            content_sha256=digest.hexdigest(),
            fingerprint=fingerprint_reference(samples, self.config),
            low_band=low_band_reference(samples, self.config),
        )
        if added:
            values: dict[str, Any] = {
                "track_id": record.id,
                "song_key": answer.key,
                "source": answer.source,
                "stream_id": stream_id,
                "song_offset_s": answer.song_offset_s,
                "song_duration_s": answer.song_duration_s,
                "answer": json.dumps(_answer_json(answer), ensure_ascii=False, sort_keys=True),
            }
            with self.engine.begin() as connection:
                connection.execute(insert(catalog_learned), values)
        return record

    def version(self) -> tuple[int, int]:
        """(fragments, highest track id): changes whenever a fragment is learned or forgotten,
        so workers reload the index only then."""
        query = select(func.count(), func.coalesce(func.max(catalog_learned.c.track_id), 0))
        with self.engine.connect() as connection:
            count, highest = connection.execute(query).one()
        return int(count), int(highest)

    def canonical_songs(self) -> dict[int, CanonicalSong]:
        """Fragment track id → the song it is part of (merged into a reference if one has it)."""
        tracks = {track.id: track for track in self.store.list_tracks()}
        learned = self._learned_rows()
        references: dict[str, TrackRecord] = {}
        for track in tracks.values():
            if track.id in learned:
                continue
            info = track.info
            references.setdefault(song_key(info.artist, info.title, info.isrc), track)
            references.setdefault(song_key(info.artist, info.title, None), track)
        songs: dict[int, CanonicalSong] = {}
        for track_id, row in learned.items():
            fragment = tracks.get(track_id)
            if fragment is None:
                continue  # removed with `catalog remove`: pruned by forget_orphans()
            info = fragment.info
            reference = references.get(row["song_key"]) or references.get(
                song_key(info.artist, info.title, None)
            )
            songs[track_id] = CanonicalSong(
                key=f"catalog:{reference.id}" if reference else row["song_key"],
                info=reference.info if reference else info,
                fragment_offset_s=row["song_offset_s"],
                song_duration_s=reference.duration_s if reference else row["song_duration_s"],
                merged_into=reference.id if reference else None,
            )
        return songs

    def songs(self) -> list[LearnedSong]:
        """Every learned song with its fragments, newest last."""
        tracks = {track.id: track for track in self.store.list_tracks()}
        canonical = self.canonical_songs()
        grouped: dict[str, list[tuple[TrackRecord, dict[str, Any]]]] = {}
        for track_id, row in self._learned_rows().items():
            if track_id in tracks:
                grouped.setdefault(row["song_key"], []).append((tracks[track_id], row))
        listed = []
        for key, fragments in grouped.items():
            moments = [row["learned_at"] for _, row in fragments if row["learned_at"] is not None]
            first_track = fragments[0][0]
            listed.append(
                LearnedSong(
                    key=key,
                    info=first_track.info,
                    sources=tuple(sorted({row["source"] for _, row in fragments})),
                    track_ids=tuple(sorted(track.id for track, _ in fragments)),
                    seconds=sum(track.duration_s for track, _ in fragments),
                    first_learned=min(moments, default=None),
                    last_learned=max(moments, default=None),
                    merged_into=canonical[first_track.id].merged_into,
                )
            )
        return sorted(listed, key=lambda song: min(song.track_ids))

    def forget(self, key_or_track_id: str) -> int:
        """Remove a learned song (by key, or by one of its fragments' track id); returns the
        number of fragments removed."""
        rows = self._learned_rows()
        if key_or_track_id.isdigit() and int(key_or_track_id) in rows:
            key = rows[int(key_or_track_id)]["song_key"]
        else:
            key = key_or_track_id
        doomed = [track_id for track_id, row in rows.items() if row["song_key"] == key]
        for track_id in doomed:
            self.store.remove_track(track_id)
        with self.engine.begin() as connection:
            connection.execute(delete(catalog_learned).where(catalog_learned.c.song_key == key))
        return len(doomed)

    def forget_orphans(self) -> int:
        """Drop rows whose track is gone (removed with `catalog remove`)."""
        existing = {track.id for track in self.store.list_tracks()}
        orphans = [track_id for track_id in self._learned_rows() if track_id not in existing]
        if orphans:
            with self.engine.begin() as connection:
                connection.execute(
                    delete(catalog_learned).where(catalog_learned.c.track_id.in_(orphans))
                )
        return len(orphans)

    def _learned_rows(self) -> dict[int, dict[str, Any]]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(catalog_learned).order_by(catalog_learned.c.track_id))
            return {int(row.track_id): dict(row._mapping) for row in rows}


def _answer_json(answer: LearnedAnswer) -> dict[str, Any]:
    info = answer.info
    return {
        "title": info.title,
        "artist": info.artist,
        "isrc": info.isrc,
        "label": info.label,
        "genre": info.genre,
        "offset_s": answer.song_offset_s,
        "duration_s": answer.song_duration_s,
    }
