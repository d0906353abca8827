"""Catalog fixtures: a small folder of generated songs, and a catalog database per backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from fingerv7.catalog import CatalogStore, create_catalog_engine
from tests.integration.catalog.library import write_library


@pytest.fixture(scope="session")
def song_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of three songs (MP3 / WAV / tagged Ogg Opus) plus a non-audio file."""
    folder = tmp_path_factory.mktemp("library")
    write_library(folder)
    return folder


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def catalog_url(
    request: pytest.FixtureRequest, tmp_path: Path, make_pg_database: Callable[[], str]
) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return make_pg_database()


@pytest.fixture
def catalog_engine(catalog_url: str) -> Iterator[Engine]:
    engine = create_catalog_engine(catalog_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(catalog_engine: Engine) -> CatalogStore:
    catalog = CatalogStore(catalog_engine)
    catalog.create_schema()
    return catalog
