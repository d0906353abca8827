"""The demo's catalog is reused between runs, and brought to this build's fingerprint version."""

from __future__ import annotations

from sqlalchemy import Engine, update

from fingerv7.catalog.schema import catalog_tracks
from fingerv7.catalog.store import CatalogStore
from fingerv7.core.fingerprint.config import CATALOG_FINGERPRINT_VERSION
from fingerv7.testing.stations import add_to_catalog, demo_songs


def test_a_catalog_left_by_an_older_release_is_refingerprinted_in_place(
    catalog_engine: Engine,
) -> None:
    songs = demo_songs([3, 4], 6.0)
    first = {t.id: t.content_sha256 for t in add_to_catalog(catalog_engine, songs).list_tracks()}
    with catalog_engine.begin() as conn:  # as an older release left it
        conn.execute(update(catalog_tracks).values(fingerprint_version=1))

    store = add_to_catalog(catalog_engine, songs)

    tracks = store.list_tracks()
    assert {t.id: t.content_sha256 for t in tracks} == first  # same tracks, same ids
    assert {t.fingerprint_version for t in tracks} == {CATALOG_FINGERPRINT_VERSION}
    assert len(CatalogStore(catalog_engine).load_index()) > 0  # no StaleCatalogError
