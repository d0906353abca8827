"""The catalog on real SQLite and PostgreSQL: add, idempotent re-add, list, remove, identify."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import update

from fingerv7.catalog import (
    AddStatus,
    CatalogIdentifier,
    CatalogIngestor,
    CatalogStore,
    StaleCatalogError,
    audio_files,
    decode_audio,
)
from fingerv7.catalog.decoding import open_audio
from fingerv7.catalog.schema import catalog_tracks
from fingerv7.core.fingerprint import (
    CATALOG_FINGERPRINT_VERSION,
    FingerprintConfig,
    MatchConfig,
    fingerprint_reference,
    low_band_reference,
)
from tests.integration.catalog.library import ALPHA, BETA, SEEDS, TAGGED, write_clip

pytestmark = pytest.mark.integration
CONFIG = FingerprintConfig()


def _add_library(store: CatalogStore, library: Path) -> dict[str, int]:
    ingestor = CatalogIngestor(store, CONFIG)
    results = [ingestor.add_file(path) for path in audio_files([library])]
    assert all(result.status is AddStatus.ADDED for result in results)
    return {result.path.name: result.track.id for result in results if result.track}


def test_add_list_and_tags(store: CatalogStore, song_library: Path) -> None:
    ids = _add_library(store, song_library)
    assert sorted(ids) == sorted(SEEDS)
    tracks = {track.id: track for track in store.list_tracks()}
    alpha = tracks[ids[ALPHA]]
    assert (alpha.info.artist, alpha.info.title) == ("Alpha Band", "First Light")
    assert alpha.duration_s == pytest.approx(25.0, abs=0.2)
    assert alpha.hash_count > 500
    tagged = tracks[ids[TAGGED]].info
    assert (tagged.artist, tagged.title) == ("Gamma Quartet", "Third Rail")
    assert tagged.isrc == "BRABC2400001"
    assert (tagged.label, tagged.genre) == ("Selo Teste", "Samba")
    assert len(store.load_index()) == sum(track.hash_count for track in tracks.values())


def test_re_adding_the_same_content_is_a_no_op(
    store: CatalogStore, song_library: Path, tmp_path: Path
) -> None:
    ids = _add_library(store, song_library)
    index_size = len(store.load_index())
    copy = tmp_path / "Someone Else - Renamed Copy.mp3"
    shutil.copy(song_library / ALPHA, copy)
    ingestor = CatalogIngestor(store, CONFIG)
    again = [ingestor.add_file(path) for path in [*audio_files([song_library]), copy]]
    assert [result.status for result in again] == [AddStatus.UNCHANGED] * 4
    assert again[-1].track is not None
    assert again[-1].track.id == ids[ALPHA]
    assert len(store.list_tracks()) == 3
    assert len(store.load_index()) == index_size


def test_unreadable_file_fails_without_side_effects(store: CatalogStore, tmp_path: Path) -> None:
    bogus = tmp_path / "broken.mp3"
    bogus.write_bytes(b"\x00" * 1000)
    result = CatalogIngestor(store, CONFIG).add_file(bogus)
    assert result.status is AddStatus.FAILED
    assert store.list_tracks() == []


def test_identify_mp3_re_encoded_clip_then_remove(
    store: CatalogStore, song_library: Path, tmp_path: Path
) -> None:
    ids = _add_library(store, song_library)
    clip = tmp_path / "clip.mp3"
    write_clip(clip, BETA, start_s=9.0)
    identifier = CatalogIdentifier(store, CONFIG, MatchConfig())
    found = identifier.identify_file(clip)
    assert found is not None
    assert found.track.id == ids[BETA]
    assert found.track.info.title == "Second Wind"
    assert found.match.offset_s == pytest.approx(9.0, abs=0.15)

    assert store.remove_track(found.track.id)
    assert not store.remove_track(found.track.id)
    assert [track.id for track in store.list_tracks()] == sorted(
        set(ids.values()) - {found.track.id}
    )
    identifier.refresh()
    assert identifier.identify_file(clip) is None
    index = store.load_index()
    assert found.track.id not in index.track_ids


def test_index_round_trips_hash_values(store: CatalogStore, song_library: Path) -> None:
    ids = _add_library(store, song_library)
    wav = song_library / BETA
    expected = fingerprint_reference(decode_audio(wav, CONFIG.sample_rate_hz).samples, CONFIG)
    hits = store.load_index().lookup(expected.hashes)
    mine = hits.track_ids == ids[wav.name]
    assert np.unique(hits.query_positions[mine]).size == len(expected)


def test_a_catalog_of_another_fingerprint_version_is_refused_until_re_added(
    store: CatalogStore, song_library: Path, tmp_path: Path
) -> None:
    ids = _add_library(store, song_library)
    with store.engine.begin() as connection:
        connection.execute(
            update(catalog_tracks)
            .where(catalog_tracks.c.id == ids[BETA])
            .values(fingerprint_version=CATALOG_FINGERPRINT_VERSION - 1)
        )
    assert store.stale_track_count() == 1
    with pytest.raises(StaleCatalogError) as refused:
        CatalogIdentifier(store, CONFIG, MatchConfig())
    assert refused.value.stale_tracks == 1

    ingestor = CatalogIngestor(store, CONFIG)
    again = {path.name: ingestor.add_file(path) for path in audio_files([song_library])}
    assert again[BETA].status is AddStatus.UPDATED
    renewed = again[BETA].track
    assert renewed is not None and renewed.id == ids[BETA]
    assert renewed.fingerprint_version == CATALOG_FINGERPRINT_VERSION
    assert {again[name].status for name in (ALPHA, TAGGED)} == {AddStatus.UNCHANGED}
    assert store.stale_track_count() == 0
    clip = tmp_path / "clip.mp3"
    write_clip(clip, BETA, start_s=9.0)
    found = CatalogIdentifier(store, CONFIG, MatchConfig()).identify_file(clip)
    assert found is not None and found.track.id == ids[BETA]


def test_catalog_add_stores_the_low_band_a_whole_track_gives(
    store: CatalogStore, song_library: Path
) -> None:
    """`catalog add` decimates and fingerprints a file chunk by chunk; its low band must be the
    one a clip's low band is compared with, which decimates a window whole."""
    ids = _add_library(store, song_library)
    wav = song_library / BETA
    expected = low_band_reference(decode_audio(wav, CONFIG.sample_rate_hz).samples, CONFIG)
    low_band = store.load_low_band_index()
    hits = low_band.lookup(expected.hashes)
    mine = hits.track_ids == ids[wav.name]
    assert len(expected) > 0
    assert np.unique(hits.query_positions[mine]).size == len(expected)
    assert set(low_band.track_ids) == set(ids.values())


def test_decoding_in_blocks_gives_the_decoders_samples_a_second_at_a_time(
    song_library: Path,
) -> None:
    with open_audio(song_library / ALPHA, CONFIG.sample_rate_hz) as reader:
        pieces = list(reader.chunks())
    with open_audio(song_library / ALPHA, CONFIG.sample_rate_hz) as reader:
        blocks = list(reader.blocks(CONFIG.sample_rate_hz))
    assert len(pieces) > 10 * len(blocks)  # decoder pieces are far shorter than a second
    assert all(block.size >= CONFIG.sample_rate_hz for block in blocks[:-1])
    np.testing.assert_array_equal(np.concatenate(blocks), np.concatenate(pieces))
