"""Track metadata from tags or "Artist - Title" names, and database URL handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from fingerv7.catalog import (
    DEFAULT_DATABASE_URL,
    CatalogDatabaseSettings,
    normalise_database_url,
)
from fingerv7.catalog.tags import parse_file_name, track_info_from_tags
from fingerv7.orchestrator.settings import OrchestratorSettings


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Tom Jobim - Wave.mp3", ("Tom Jobim", "Wave")),
        ("03 - Elis Regina - Aguas de Marco.flac", ("Elis Regina", "Aguas de Marco")),
        ("07. Caetano_Veloso - Sampa.ogg", ("Caetano Veloso", "Sampa")),
        ("A - B - C.mp3", ("A", "B - C")),
        ("untitled.wav", (None, "untitled")),
        (" - Title only.mp3", (None, "- Title only")),
    ],
)
def test_file_names(name: str, expected: tuple[str | None, str]) -> None:
    assert parse_file_name(Path(name)) == expected


def test_tags_win_over_file_name_and_fill_the_rest() -> None:
    tags = {
        "TITLE": "Real Title",
        "Artist": "Real Artist",
        "TSRC": "br-xyz-20-00042",
        "genre": "MPB",
    }
    info = track_info_from_tags(tags, Path("Other - Name.mp3"))
    assert (info.title, info.artist, info.isrc, info.genre) == (
        "Real Title",
        "Real Artist",
        "BRXYZ2000042",
        "MPB",
    )
    partial = track_info_from_tags(
        {"title": "Only Title", "publisher": "Som Livre"}, Path("Nome - X.mp3")
    )
    assert (partial.title, partial.artist, partial.label) == ("Only Title", "Nome", "Som Livre")
    bare = track_info_from_tags({"title": "  "}, Path("noartist.mp3"))
    assert (bare.title, bare.artist) == ("noartist", "Unknown artist")


def test_database_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    def from_environment() -> str:
        return CatalogDatabaseSettings().database_url.get_secret_value()

    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert from_environment() == DEFAULT_DATABASE_URL == "sqlite:///./fingerv7.db"
    # One default: the catalog commands and the orchestrator open the same file.
    orchestrator = OrchestratorSettings(_env_file=None)  # type: ignore[call-arg]
    assert orchestrator.database_url.get_secret_value() == DEFAULT_DATABASE_URL
    monkeypatch.setenv("DATABASE_URL", "")  # as Compose passes ${DATABASE_URL:-}: unset
    assert from_environment() == DEFAULT_DATABASE_URL
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h:5432/db")
    assert normalise_database_url(from_environment()) == "postgresql+psycopg://u@h:5432/db"
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
