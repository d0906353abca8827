"""The learning catalog on both backends: fragments, grouping, merging, the CLI, index reloads."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from fingerv7.audio.fallback import LearningCatalogRecognizer
from fingerv7.audio.recognition import CatalogRecognizer
from fingerv7.catalog import CatalogIdentifier, CatalogStore, TrackInfo
from fingerv7.catalog.learning import LearnedAnswer, LearningCatalog
from fingerv7.cli.main import app
from fingerv7.core.fingerprint import (
    FingerprintConfig,
    MatchConfig,
    fingerprint_reference,
    low_band_reference,
)
from tests.audio_factory import SONG_SAMPLE_RATE_HZ, resample, synthesize_song

CONFIG = FingerprintConfig()
RATE_HZ = CONFIG.sample_rate_hz


def song(seed: int, start_s: float = 0.0, seconds: float = 20.0) -> npt.NDArray[np.float32]:
    samples = resample(synthesize_song(seed, 20.0), SONG_SAMPLE_RATE_HZ, RATE_HZ)
    return samples[int(start_s * RATE_HZ) : int((start_s + seconds) * RATE_HZ)]


def answer(seed: int, offset_s: float | None, isrc: str | None = None) -> LearnedAnswer:
    info = TrackInfo(f"Song {seed}", f"Artist {seed}", isrc, "Selo", "Pop")
    return LearnedAnswer("http", info, song_offset_s=offset_s, song_duration_s=20.0)


@pytest.fixture
def learning(catalog_engine: Engine) -> LearningCatalog:
    catalog = LearningCatalog(CatalogStore(catalog_engine), CONFIG)
    catalog.create_schema()
    return catalog


def recognizer(learning: LearningCatalog) -> LearningCatalogRecognizer:
    identifier = CatalogIdentifier(learning.store, CONFIG, MatchConfig())
    return LearningCatalogRecognizer(CatalogRecognizer(identifier), learning)


def test_fragments_of_a_song_name_it_as_one_song(learning: LearningCatalog) -> None:
    learning.learn(answer(51, 0.0, "BR-ABC-26-00051"), song(51, 0.0, 6.0), stream_id=1)
    learning.learn(answer(51, 10.0, "BRABC2600051"), song(51, 10.0, 6.0), stream_id=2)
    chain = recognizer(learning)
    first, second = chain.recognize(song(51, 1.0, 5.0)), chain.recognize(song(51, 11.0, 5.0))
    assert first is not None and second is not None
    assert first.track_key == second.track_key == "isrc:BRABC2600051"
    assert second.offset_s == pytest.approx(11.0, abs=0.2)  # the fragment's place in the song
    assert second.duration_s == 20.0
    assert chain.recognize(song(52, 1.0, 5.0)) is None
    [listed] = learning.songs()
    assert (listed.key, listed.sources, len(listed.track_ids)) == (
        "isrc:BRABC2600051",
        ("http",),
        2,
    )
    assert listed.seconds == pytest.approx(12.0, abs=0.1)


def test_a_learned_song_is_merged_into_a_reference_with_its_isrc(
    learning: LearningCatalog,
) -> None:
    learning.learn(answer(53, 2.0, "BRABC2600053"), song(53, 2.0, 6.0), stream_id=1)
    chain = recognizer(learning)
    assert chain.refresh_if_changed() is False  # nothing new since it loaded
    reference = learning.store.add_track(
        TrackInfo("Song 53 (Remaster)", "Artist 53", "BRABC2600053", "Real Label"),
        duration_s=20.0,
        source_path="ref/53.flac",
        content_sha256=hashlib.sha256(b"ref-53").hexdigest(),
        fingerprint=fingerprint_reference(song(53, 12.0, 8.0), CONFIG),  # another part
        low_band=low_band_reference(song(53, 12.0, 8.0), CONFIG),
    )[0]
    assert chain.refresh_if_changed() is False  # a reference is not a learned change…
    chain.refresh()  # …it arrives with the regular catalog refresh
    found = chain.recognize(song(53, 3.0, 5.0))  # heard in the learned part
    assert found is not None
    assert (found.title, found.label, found.track_key) == (
        "Song 53 (Remaster)", "Real Label", f"catalog:{reference.id}"
    )  # fmt: skip
    assert learning.songs()[0].merged_into == reference.id


def test_workers_reload_only_when_learned_songs_change(learning: LearningCatalog) -> None:
    chain = recognizer(learning)
    assert chain.recognize(song(54, 1.0, 5.0)) is None
    learning.learn(answer(54, 0.0), song(54, 0.0, 8.0), stream_id=1)  # another worker learns
    assert chain.refresh_if_changed() is True
    found = chain.recognize(song(54, 1.0, 5.0))
    assert found is not None and found.track_key == "song:artist 54|song 54"
    assert learning.forget("song:artist 54|song 54") == 1
    assert chain.refresh_if_changed() is True
    assert chain.recognize(song(54, 1.0, 5.0)) is None


def test_learned_songs_are_listed_and_forgotten_with_the_cli(
    learning: LearningCatalog, catalog_url: str
) -> None:
    learning.learn(answer(55, 0.0, "BRABC2600055"), song(55, 0.0, 6.0), stream_id=3)
    learning.learn(answer(56, 0.0), song(56, 0.0, 6.0), stream_id=3)
    runner = CliRunner()
    env = {"DATABASE_URL": catalog_url}
    listed = runner.invoke(app, ["catalog", "learned", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    songs = json.loads(listed.output)
    assert [(s["key"], s["title"], s["sources"]) for s in songs] == [
        ("isrc:BRABC2600055", "Song 55", ["http"]),
        ("song:artist 56|song 56", "Song 56", ["http"]),
    ]
    fragment_id = str(songs[1]["track_ids"][0])
    forgot = runner.invoke(app, ["catalog", "forget", fragment_id], env=env)
    assert forgot.exit_code == 0 and "1 fragment(s) removed" in forgot.output
    again = runner.invoke(app, ["catalog", "forget", fragment_id], env=env)
    assert again.exit_code == 1
    table = runner.invoke(app, ["catalog", "learned"], env=env)
    assert "Song 55" in table.output and "Song 56" not in table.output
    assert "1 learned song(s)" in table.output
    assert [t.info.title for t in learning.store.list_tracks()] == ["Song 55"]
