"""`fingerv7 catalog add|list|remove` and `fingerv7 identify` through the real CLI app."""

from __future__ import annotations

import json
import subprocess
import sys
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
    code, output = _run(url, "catalog", "list", "--json")
    assert code == 0, output
    listed = {row["title"]: row for row in map(json.loads, output.splitlines())}
    assert set(listed) == {"First Light", "Second Wind", "Third Rail"}
    assert listed["First Light"]["source_path"] == str((song_library / ALPHA).resolve())
    assert listed["Third Rail"]["isrc"] == "BRABC2400001"

    clip = tmp_path / "clip.mp3"
    write_clip(clip, ALPHA, start_s=4.0)
    code, output = _run(url, "identify", "--json", str(clip))
    assert code == 0, output
    match = json.loads(output)["match"]
    assert (match["artist"], match["title"]) == ("Alpha Band", "First Light")
    assert match["source_path"] == str((song_library / ALPHA).resolve())
    assert match["offset_s"] == pytest.approx(4.0, abs=0.15)

    code, output = _run(url, "catalog", "remove", str(match["track_id"]))
    assert code == 0, output
    code, output = _run(url, "catalog", "remove", str(match["track_id"]))
    assert code == 1
    code, output = _run(url, "identify", str(clip))
    assert code == 0
    assert f"{clip}: no match" in output


def test_identify_many_files_in_one_call(
    catalog_url: str, song_library: Path, tmp_path: Path
) -> None:
    """One JSON line per file, in order; an unreadable file is reported and gives exit code 2
    without stopping the others; no match is not an error."""
    assert _run(catalog_url, "catalog", "add", str(song_library))[0] == 0
    beta_clip, alpha_clip = tmp_path / "beta.mp3", tmp_path / "alpha.mp3"
    write_clip(beta_clip, BETA, start_s=9.0)
    write_clip(alpha_clip, ALPHA, start_s=2.0)
    stranger = tmp_path / "stranger.mp3"
    encode_audio(stranger, synthesize_song(4242, 10.0), SONG_SAMPLE_RATE_HZ)
    not_audio = tmp_path / "not-audio.mp3"
    not_audio.write_text("hello")

    files = [beta_clip, stranger, alpha_clip]
    code, output = _run(catalog_url, "identify", "--json", *map(str, files))
    assert code == 0, output
    lines = [json.loads(line) for line in output.splitlines()]
    assert [line["file"] for line in lines] == list(map(str, files))
    assert lines[0]["match"]["title"] == "Second Wind"
    assert lines[0]["match"]["offset_s"] == pytest.approx(9.0, abs=0.15)
    assert lines[1] == {"file": str(stranger), "match": None}
    assert lines[2]["match"]["title"] == "First Light"
    assert set(lines[2]["match"]) == {
        "track_id", "title", "artist", "isrc", "source_path", "offset_s", "speed",
        "aligned_hashes", "confidence", "score",
    }  # fmt: skip

    code, output = _run(catalog_url, "identify", "--json", str(not_audio), str(alpha_clip))
    assert code == 2
    first, second = (json.loads(line) for line in output.splitlines())
    assert first["file"] == str(not_audio) and first["match"] is None and first["error"]
    assert second["match"]["title"] == "First Light"

    code, output = _run(catalog_url, "catalog", "add", str(not_audio))
    assert code == 1
    assert "failed 1" in output


def test_catalog_add_does_not_load_the_matchers_compiled_loops(
    song_library: Path, tmp_path: Path
) -> None:
    """`catalog add` has a peak memory target of 300 MB; the matcher's compiled voting loops
    (Numba) cost about 110 MB and only identification needs them. Run in a fresh process, so
    that what other tests imported cannot hide an import."""
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from fingerv7.cli.main import app\n"
        f"url = 'sqlite:///{tmp_path / 'catalog.db'}'\n"
        f"result = CliRunner().invoke(app, ['catalog', 'add', {str(song_library)!r}],"
        " env={'DATABASE_URL': url})\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'added 3' in result.output, result.output\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'numba'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
