"""The catalog's own Alembic chain: pre-Alembic catalogs are adopted and their rows moved into
per-track blobs, and the catalog shares a database with the orchestrator without either chain
seeing the other's revisions."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from sqlalchemy import Engine, Integer, column, insert, inspect, table, text

from fingerv7.catalog import (
    CatalogIdentifier,
    CatalogStore,
    StaleCatalogError,
    create_catalog_engine,
)
from fingerv7.catalog.migrate import catalog_alembic_config
from fingerv7.core.fingerprint import (
    FingerprintConfig,
    MatchConfig,
    fingerprint_reference,
    low_band_reference,
)
from fingerv7.storage.migrate import upgrade_to_head
from tests.audio_factory import SONG_SAMPLE_RATE_HZ, resample, synthesize_song

pytestmark = pytest.mark.integration
CONFIG = FingerprintConfig()


def _old_catalog_with_one_track(engine: Engine) -> np.ndarray:
    """Tables as `create_all` made them before Alembic (revision c0001, no version table),
    holding one track's hash rows; returns the track's samples. The rows are today's hashes
    (the point is the migration of their storage), but the catalog records them as version 1."""
    with engine.begin() as connection:
        command.upgrade(catalog_alembic_config(connection), "c0001")
        connection.execute(text("DROP TABLE catalog_alembic_version"))
    samples = resample(synthesize_song(77, 20.0), SONG_SAMPLE_RATE_HZ, CONFIG.sample_rate_hz)
    reference = fingerprint_reference(samples, CONFIG)
    hashes = table(
        "catalog_hashes", *(column(name, Integer) for name in ("hash", "track_id", "frame"))
    )
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO catalog_tracks (id, title, artist, duration_s, source_path,"
                " content_sha256, hash_count) VALUES (5, 'Old', 'Band', 20.0, '/old.mp3',"
                " :sha, :count)"
            ),
            {"sha": "0" * 64, "count": len(reference)},
        )
        connection.execute(
            insert(hashes),
            [
                {"hash": int(h), "track_id": 5, "frame": int(f)}
                for h, f in zip(reference.hashes, reference.anchor_frames, strict=True)
            ],
        )
    return samples


def test_pre_alembic_catalog_is_adopted_and_migrated(catalog_engine: Engine) -> None:
    samples = _old_catalog_with_one_track(catalog_engine)
    store = CatalogStore(catalog_engine)
    store.create_schema()
    tables = set(inspect(catalog_engine).get_table_names())
    assert "catalog_hashes" not in tables and "catalog_fingerprints" in tables
    with catalog_engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM catalog_alembic_version"))
        assert version.scalar_one() == "c0005"
    # Rows older than c0004 were made by fingerprint version 1, which this build does not read:
    # refused, not silently mismatched, until the track is re-fingerprinted.
    (old,) = store.list_tracks()
    assert old.fingerprint_version == 1 and old.is_stale
    with pytest.raises(StaleCatalogError):
        store.load_index()
    with pytest.raises(StaleCatalogError):
        store.load_low_band_index()
    reference = fingerprint_reference(samples, CONFIG)
    low_band = low_band_reference(samples, CONFIG)
    renewed = store.replace_fingerprint(5, reference, low_band=low_band)
    assert renewed is not None and not renewed.is_stale
    assert renewed.hash_count == len(reference)
    index = store.load_index()
    assert len(index) == len(reference)
    hits = index.lookup(reference.hashes)
    assert np.unique(hits.query_positions).size == len(reference)
    assert 0 < len(store.load_low_band_index()) == len(low_band)
    found = CatalogIdentifier(store, CONFIG, MatchConfig()).identify_samples(
        samples[4 * CONFIG.sample_rate_hz : 14 * CONFIG.sample_rate_hz]
    )
    assert found is not None and found.track.id == 5
    assert found.match.offset_s == pytest.approx(4.0, abs=0.1)
    store.create_schema()  # idempotent at head


def test_catalog_and_orchestrator_chains_share_one_database(pg_url: str) -> None:
    upgrade_to_head(pg_url)
    engine = create_catalog_engine(pg_url)
    try:
        CatalogStore(engine).create_schema()
        upgrade_to_head(pg_url)  # the orchestrator's chain ignores the catalog's tables
        with engine.connect() as connection:
            orchestrator = connection.execute(text("SELECT version_num FROM alembic_version"))
            catalog = connection.execute(text("SELECT version_num FROM catalog_alembic_version"))
            assert not orchestrator.scalar_one().startswith("c")
            assert catalog.scalar_one() == "c0005"
        tables = set(inspect(engine).get_table_names())
        assert {"instances", "catalog_tracks", "catalog_fingerprints"} <= tables
    finally:
        engine.dispose()


def test_catalogs_opened_from_several_threads_at_once_all_migrate(tmp_path: Path) -> None:
    """Two workers in one process open their catalogs together: Alembic's module-level proxies
    are shared by every thread, so unserialised upgrades broke each other (`KeyError: 'script'`
    in a CI run) and a worker reported its catalog unreachable."""
    engines = [create_catalog_engine(f"sqlite:///{tmp_path / f'c{n}.db'}") for n in range(8)]
    start = threading.Barrier(len(engines))

    def open_catalog(engine: Engine) -> set[str]:
        start.wait()
        CatalogStore(engine).create_schema()
        return set(inspect(engine).get_table_names())

    with ThreadPoolExecutor(max_workers=len(engines)) as pool:
        tables = list(pool.map(open_catalog, engines))
    assert all({"catalog_tracks", "catalog_alembic_version"} <= found for found in tables)
