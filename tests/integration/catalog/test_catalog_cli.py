"""`fingerv7 catalog add|list|remove` and `fingerv7 identify` through the real CLI app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fingerv7.cli.main import app
from tests.audio_factory import SONG_SAMPLE_RATE_HZ, encode_audio, synthesize_song
from tests.integration.catalog.library import ALPHA, BETA, write_clip

pytestmark = pytest.mark.integration


def _run(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"DATABASE_URL": url})
    return result.exit_code, result.output


def test_catalog_cli_round_trip(catalog_url: str, song_library: Path, tmp_path: Path) -> None:
    # libpq-style URLs are accepted and routed to the psycopg driver
    url = catalog_url.replace("postgresql+psycopg://", "postgresql://")

    code, output = _run(url, "catalog", "add", str(song_library))
    assert code == 0, output
    assert "added 3, unchanged 0, failed 0" in output

    code, output = _run(url, "catalog", "add", str(song_library), str(song_library / ALPHA))
    assert code == 0, output
    assert "added 0, unchanged 4, failed 0" in output

    code, output = _run(url, "catalog", "list")
    assert code == 0, output
    assert "Alpha Band" in output and "Gamma Quartet" in output and "BRABC2400001" in output
    assert "3 track(s)" in output

    clip = tmp_path / "clip.mp3"
    write_clip(clip, ALPHA, start_s=4.0)
    code, output = _run(url, "identify", "--json", str(clip))
    assert code == 0, output
    match = json.loads(output)["match"]
    assert (match["artist"], match["title"]) == ("Alpha Band", "First Light")
    assert match["offset_s"] == pytest.approx(4.0, abs=0.15)

    code, output = _run(url, "catalog", "remove", str(match["track_id"]))
    assert code == 0, output
    code, output = _run(url, "catalog", "remove", str(match["track_id"]))
    assert code == 1
    code, output = _run(url, "identify", str(clip))
    assert code == 1
    assert "no match" in output


def test_identify_unknown_song_and_bad_file(
    catalog_url: str, song_library: Path, tmp_path: Path
) -> None:
    assert _run(catalog_url, "catalog", "add", str(song_library / BETA))[0] == 0
    stranger = tmp_path / "stranger.mp3"
    encode_audio(stranger, synthesize_song(4242, 10.0), SONG_SAMPLE_RATE_HZ)
    code, output = _run(catalog_url, "identify", "--json", str(stranger))
    assert (code, json.loads(output)) == (1, {"match": None})

    not_audio = tmp_path / "not-audio.mp3"
    not_audio.write_text("hello")
    assert _run(catalog_url, "identify", str(not_audio))[0] == 2
    code, output = _run(catalog_url, "catalog", "add", str(not_audio))
    assert code == 1
    assert "failed 1" in output
