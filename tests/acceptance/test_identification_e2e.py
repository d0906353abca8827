"""End to end, offline: a catalog, a radio, a real orchestrator and a real fingerprint worker.

The catalog is built with `fingerv7 catalog add` from generated, tagged MP3 files. The local
test radio plays three of them in a known order, in real time, then starts the playlist again.
`fingerv7 orchestrator` (SQLite) assigns the imported stream to a `fingerv7 worker` with
`PROCESSOR=fingerprint`, which must log the three songs to an existing music_log table of the
original shape in a real PostgreSQL, in order, once each: the first song coming round again
within the duplicate window is not a new row.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from fingerv7.testing.radio import LocalRadio
from tests.acceptance.fleet_processes import FINGERV7, ORCHESTRATOR_ENV, free_port, wait_until
from tests.audio_factory import SONG_SAMPLE_RATE_HZ, encode_audio
from tests.integration.audio.playlist import radio_songs

pytestmark = pytest.mark.acceptance

SONG_S = 8.0
PLAYED = [31, 32, 33]
NOT_PLAYED = [34]
INSTANCE_ID = "fingerv7-001"  # the original's identified_by holds 10 characters
ORIGINAL_MUSIC_LOG = """
CREATE TABLE music_log (
    id SERIAL PRIMARY KEY, date DATE, time TIME, name VARCHAR(255), artist VARCHAR(255),
    song_title VARCHAR(255), isrc VARCHAR(50), cidade VARCHAR(100), estado VARCHAR(50),
    regiao VARCHAR(50), segmento VARCHAR(100), label VARCHAR(255), genre VARCHAR(100),
    identified_by VARCHAR(10), created_at TIMESTAMP DEFAULT now(),
    UNIQUE (name, artist, song_title, date, time)
)
"""


def _base_env() -> dict[str, str]:
    import os

    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {name: os.environ[name] for name in keep if name in os.environ}


@dataclass
class Station:
    """Every process and file of the scenario; all processes stopped at the end."""

    workdir: Path
    music_db: str  # libpq URL
    radio: LocalRadio
    port: int
    processes: dict[str, subprocess.Popen[bytes]]

    @property
    def orchestrator_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        with (self.workdir / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [FINGERV7, *command],
                cwd=self.workdir,
                env=_base_env() | env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def music_log(self) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.music_db) as db:
            return db.execute(
                "SELECT name, artist, song_title, cidade, estado, regiao, segmento, "
                "identified_by FROM music_log ORDER BY date, time, id"
            ).fetchall()

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_cli(workdir: Path, *arguments: str) -> str:
    done = subprocess.run(
        [FINGERV7, *arguments], cwd=workdir, env=_base_env(), capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode()


def build_catalog(workdir: Path) -> str:
    folder = workdir / "library"
    folder.mkdir()
    for song in radio_songs(PLAYED + NOT_PLAYED, SONG_S):
        encode_audio(
            folder / f"{song.title}.mp3",
            song.samples,
            SONG_SAMPLE_RATE_HZ,
            tags={"artist": song.artist, "title": song.title, "genre": "Teste"},
        )
    url = f"sqlite:///{workdir / 'catalog.db'}"
    assert "added 4" in run_cli(workdir, "catalog", "add", str(folder), "--database-url", url)
    return url


@pytest.fixture
def station(tmp_path: Path, make_pg_database: Callable[[], str]) -> Iterator[Station]:
    music_db = make_pg_database().replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(music_db, autocommit=True) as db:
        db.execute(ORIGINAL_MUSIC_LOG)
    with LocalRadio(radio_songs(PLAYED, SONG_S)) as radio:
        running = Station(tmp_path, music_db, radio, free_port(), {})
        try:
            yield running
        finally:
            running.stop_all()


def test_the_worker_logs_the_radios_songs_in_order_once_each(station: Station) -> None:
    workdir = station.workdir
    catalog_url = build_catalog(workdir)
    orchestrator_db = f"sqlite:///{workdir / 'orchestrator.db'}"
    listing = workdir / "streams.json"
    listing.write_text(
        json.dumps(
            [
                {
                    "url": station.radio.url,
                    "name": "Rádio Teste FM",
                    "cidade": "Recife",
                    "estado": "PE",
                    "regiao": "Nordeste",
                    "segmento": "Pop",
                }
            ]
        )
    )
    run_cli(workdir, "streams", "import", str(listing), "--database-url", orchestrator_db)

    station.start(
        "orchestrator",
        ["orchestrator", "--port", str(station.port)],
        ORCHESTRATOR_ENV | {"DATABASE_URL": orchestrator_db},
    )
    database = urlsplit(station.music_db)
    buffer_path = workdir / "playlog.sqlite3"
    station.start(
        "worker",
        ["worker"],
        {
            "INSTANCE_ID": INSTANCE_ID,
            "ORCHESTRATOR_URL": station.orchestrator_url,
            "HEARTBEAT_INTERVAL": "1",
            "HEARTBEAT_TIMEOUT": "3",
            "ASSIGNMENT_WAIT_SECONDS": "1",
            "WORKER_HTTP_HOST": "127.0.0.1",
            "WORKER_HTTP_PORT": "0",
            "PROCESSOR": "fingerprint",
            "CATALOG_DATABASE_URL": catalog_url,
            "IDENTIFICATION_DURATION": "5",
            "IDENTIFICATION_INTERVAL": "2",
            "PLAYLOG_BUFFER_PATH": str(buffer_path),
            "POSTGRES_HOST": database.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(database.port or 5432),
            "POSTGRES_DB": database.path.lstrip("/"),
            "POSTGRES_USER": database.username or "postgres",
            "DB_TABLE_NAME": "music_log",
        },
    )
    wait_until(lambda: station.radio.seconds_on_air() is not None, 30, "the worker to tune in")
    # The whole playlist, then the first song again: refused as the same play.
    wait_until(
        lambda: "duplicate play" in station.log("worker"),
        len(PLAYED) * SONG_S + 20,
        "the first song to come round again",
    )

    worker = station.processes["worker"]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0, station.log("worker")[-3000:]

    rows = station.music_log()
    assert [row[2] for row in rows] == ["Song 31", "Song 32", "Song 33"], station.log("worker")
    assert rows[0] == (
        "Rádio Teste FM", "Artist 31", "Song 31", "Recife", "PE", "Nordeste", "Pop", "01:catalog",
    )  # fmt: skip
    with sqlite3.connect(buffer_path) as buffer:
        assert buffer.execute("SELECT count(*) FROM pending_plays").fetchone() == (0,)
