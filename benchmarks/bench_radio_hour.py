"""Per-play accuracy on a simulated radio hour: real recordings through the real worker pipeline.

Set-up (once): benchmarks/corpus/setup.sh (the Debian music packages, sox, espeak-ng). Then

    .venv/bin/python benchmarks/bench_radio_hour.py --minutes 60

catalogues the corpus as make_queries.py splits it (every eighth recording held out) with
`fingerv7 catalog add` into a SQLite catalog, and builds an hour of a station: catalogued songs
back to back (radio edits of 2.5-4 min, fading out; shorter recordings whole) with 3 s
crossfades, a presenter (espeak-ng) talking over some intros and outros, jingles (the corpus's
short game sounds), and every sixth song one the catalog does not hold; then the whole hour goes
through the broadcast chain (band-limit, multiband compression, limiter). `LocalRadio` serves it
as 128 kbit/s MP3 in real time; `fingerv7 orchestrator` (SQLite) assigns it to one `fingerv7
worker` (PROCESSOR=fingerprint) that logs to a music_log table in PostgreSQL. The benchmark
watches music_log once a second (a row's delay is from its song's start to the moment the row
is seen) and scores the playlist against it with `fingerv7.testing.airplay`: catalogued plays
longer than 60 s logged once, missed, logged twice, wrong rows, rows while a song not in the
catalog played, and the delay. The hour runs in real time: it takes an hour.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "corpus"))

from bench_real_corpus import SHARED_AUDIO, recreate_database
from make_queries import (
    BROADCAST_CHAIN,
    HOLD_OUT_EVERY,
    RATE,
    _read,
    _sox_effect,
    corpus_recordings,
    presenter,
    short_sounds,
)
from tests.acceptance.fleet_processes import FINGERV7, free_port, wait_until

from fingerv7.testing.airplay import Airing, LoggedRow, score_airplay
from fingerv7.testing.radio import LocalRadio, RadioSong

CROSSFADE_S = 3.0
TALK_S = 10.0
LEVEL_RMS = 0.1  # every item is levelled to -20 dBFS before mixing, as a playout system does
UNCATALOGUED_EVERY = 6


def split_corpus() -> tuple[list[tuple[Path, float]], list[tuple[Path, float]]]:
    """(catalogued, held out) exactly as make_queries.py splits the recordings."""
    recordings = corpus_recordings()
    catalogued = [
        rec for n, rec in enumerate(recordings) if n % HOLD_OUT_EVERY != HOLD_OUT_EVERY - 1
    ]
    held_out = [
        rec
        for n, rec in enumerate(recordings)
        if n % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1 and str(rec[0]) not in SHARED_AUDIO
    ]
    return catalogued, held_out


def running_order(
    catalogued: list[tuple[Path, float]], held_out: list[tuple[Path, float]], seed: int
) -> list[tuple[Path, float]]:
    """Catalogued songs in random order, each once, every sixth slot a held-out recording."""
    rng = np.random.default_rng(seed)
    songs = [catalogued[i] for i in rng.permutation(len(catalogued))]
    strangers = [held_out[i] for i in rng.permutation(len(held_out))]
    order: list[tuple[Path, float]] = []
    for number, song in enumerate(songs):
        if number % UNCATALOGUED_EVERY == UNCATALOGUED_EVERY - 1 and strangers:
            order.append(strangers.pop())
        order.append(song)
    return order


def _levelled(samples: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) or 1.0
    return (samples * (LEVEL_RMS / rms)).astype(np.float32)


def _faded(samples: np.ndarray, fade_s: float) -> np.ndarray:
    fade = min(int(fade_s * RATE), samples.size // 2)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    samples = samples.copy()
    samples[:fade] *= ramp
    samples[samples.size - fade :] *= ramp[::-1]
    return samples


def _talk_over(samples: np.ndarray, start: int, seed: int) -> None:
    """A presenter at the music's own level over TALK_S seconds from `start` (in place)."""
    size = min(int(TALK_S * RATE), samples.size - start)
    if size <= RATE:
        return
    voice = presenter(seed, size)
    music = samples[start : start + size]
    gain = np.sqrt(np.mean(music.astype(np.float64) ** 2) / max(np.mean(voice**2), 1e-12))
    samples[start : start + size] = music + gain * voice


def build_programme(
    minutes: float, seed: int, in_catalog: set[str]
) -> tuple[np.ndarray, list[Airing]]:
    """The hour's audio (mono float32 at RATE) and its timetable.

    `in_catalog`: the recordings the catalog holds (a few of the corpus fail to decode in
    `catalog add`; they air as songs not in the catalog).
    """
    rng = np.random.default_rng(seed + 1)
    catalogued, held_out = split_corpus()
    jingles = short_sounds()
    total = int((minutes * 60 + 300) * RATE)
    audio = np.zeros(total, dtype=np.float32)
    airings: list[Airing] = []
    cursor_s = 0.0

    def place(samples: np.ndarray, track: str | None, label: str, kind: str) -> None:
        nonlocal cursor_s
        start_s = max(0.0, cursor_s - CROSSFADE_S) if airings else 0.0
        start = int(start_s * RATE)
        samples = samples[: total - start]
        audio[start : start + samples.size] += samples
        airings.append(Airing(start_s, start_s + samples.size / RATE, track, label, kind))
        cursor_s = start_s + samples.size / RATE

    for number, (path, seconds) in enumerate(running_order(catalogued, held_out, seed)):
        if cursor_s >= minutes * 60:
            break
        play_s = min(seconds, float(rng.uniform(150, 240)))
        song = _faded(_levelled(_read(path, 0.0, play_s)), CROSSFADE_S)
        if rng.random() < 0.35:
            _talk_over(song, 0, seed * 1000 + number)
        if rng.random() < 0.25:
            _talk_over(song, max(0, song.size - int((TALK_S + CROSSFADE_S) * RATE)), number)
        label = f"{path.parent.name}/{path.name}"
        track = str(path.resolve())
        place(song, track if track in in_catalog else None, label, "song")
        if rng.random() < 0.25 and jingles:
            jingle_path, jingle_s = jingles[int(rng.integers(len(jingles)))]
            jingle = _faded(_levelled(_read(jingle_path, 0.0, min(jingle_s, 10.0))), 0.5)
            place(jingle, None, f"jingle {jingle_path.name}", "jingle")
    audio = audio[: int(cursor_s * RATE)]
    on_air = np.clip(_sox_effect(audio, BROADCAST_CHAIN), -1.0, 1.0)
    return on_air, airings


def catalog_tracks(workdir: Path, url: str, catalogued: list[tuple[Path, float]]) -> dict:
    """Catalogue the corpus (once: `catalog add` skips what it holds); (artist, title) -> paths."""
    folder = workdir / "catalog"
    folder.mkdir(parents=True, exist_ok=True)
    for number, (path, _) in enumerate(catalogued):
        link = folder / f"{number:03d}-{path.parent.name}-{path.name}"
        if not link.exists():
            link.symlink_to(path)
    subprocess.run([FINGERV7, "catalog", "add", str(folder), "--database-url", url], check=False)
    listing = subprocess.run(
        [FINGERV7, "catalog", "list", "--json", "--database-url", url],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    names: dict[tuple[str, str], set[str]] = {}
    for line in listing.splitlines():
        track = json.loads(line)
        source = str(Path(track["source_path"]).resolve())
        names.setdefault((track["artist"], track["title"]), set()).add(source)
    return names


class MusicLogWatch(threading.Thread):
    """Reads new music_log rows once a second and notes when each was first seen."""

    def __init__(self, conninfo: str, table: str) -> None:
        super().__init__(daemon=True)
        self.conninfo, self.table = conninfo, table
        self.rows: list[tuple[float, str, str, str]] = []  # (seen at, artist, title, time)
        self.stop = threading.Event()

    def run(self) -> None:
        last_id = 0
        while not self.stop.wait(1.0):
            try:
                with psycopg.connect(self.conninfo) as db:
                    found = db.execute(
                        f"SELECT id, artist, song_title, time::text FROM {self.table} "
                        "WHERE id > %s ORDER BY id",
                        (last_id,),
                    ).fetchall()
            except psycopg.errors.UndefinedTable:
                continue
            seen = time.time()
            for row_id, artist, title, heard in found:
                self.rows.append((seen, artist, title, heard))
                last_id = max(last_id, row_id)


def _on_air(radio: LocalRadio, processes: dict, workdir: Path) -> bool:
    for name, process in processes.items():
        if process.poll() is not None:
            log = (workdir / f"{name}.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"{name} exited with {process.returncode}:\n{log}")
    return radio.seconds_on_air() is not None


def run_station(args: argparse.Namespace, programme: np.ndarray, catalog_url: str) -> dict:
    """Orchestrator, worker and radio; returns the rows seen and when the broadcast began."""
    workdir: Path = args.workdir
    recreate_database(args.music_db)
    conninfo = args.music_db
    song = RadioSong("FingerV7", "radio hour", programme, RATE)
    port = free_port()
    orchestrator_db = f"sqlite:///{workdir / 'orchestrator.db'}"
    Path(orchestrator_db.removeprefix("sqlite:///")).unlink(missing_ok=True)
    timing = {"HEARTBEAT_INTERVAL": "5", "HEARTBEAT_TIMEOUT": "20"}
    orchestrator_env = timing | {
        "HEARTBEAT_WARNING_THRESHOLD": "10",
        "DATABASE_URL": orchestrator_db,
    }
    with LocalRadio([song], loop=False, bitrate=128_000, sample_rate_hz=RATE) as radio:
        listing = workdir / "streams.json"
        listing.write_text(json.dumps([{"url": radio.url, "name": "Radio Hour FM"}]))
        subprocess.run(
            [FINGERV7, "streams", "import", str(listing), "--database-url", orchestrator_db],
            check=True, capture_output=True,
        )  # fmt: skip
        database = psycopg.conninfo.conninfo_to_dict(conninfo)
        worker_env = timing | {
            "INSTANCE_ID": "radio-hour-1",
            "ORCHESTRATOR_URL": f"http://127.0.0.1:{port}",
            "WORKER_HTTP_PORT": "0",
            "PROCESSOR": "fingerprint",
            "CATALOG_DATABASE_URL": catalog_url,
            "IDENTIFICATION_DURATION": str(args.identification_duration),
            "IDENTIFICATION_INTERVAL": str(args.identification_interval),
            "PLAYLOG_BUFFER_PATH": str(workdir / "playlog.sqlite3"),
            "POSTGRES_HOST": str(database.get("host", "127.0.0.1")),
            "POSTGRES_PORT": str(database.get("port", 5432)),
            "POSTGRES_DB": str(database["dbname"]),
            "POSTGRES_USER": str(database.get("user", "postgres")),
            "DB_TABLE_NAME": "music_log",
            "TZ": "UTC",
        }
        worker_env |= dict(args.worker_env)
        base_env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir)}
        processes = {}
        for name, command, env in (
            ("orchestrator", ["orchestrator", "--port", str(port)], orchestrator_env),
            ("worker", ["worker"], worker_env),
        ):  # fmt: skip
            log = (workdir / f"{name}.log").open("wb")
            processes[name] = subprocess.Popen(
                [FINGERV7, *command], env=base_env | env, stdout=log, stderr=subprocess.STDOUT,
                cwd=workdir,
            )  # fmt: skip
        watch = MusicLogWatch(conninfo, "music_log")
        watch.start()
        try:
            wait_until(lambda: _on_air(radio, processes, workdir), 120, "the worker to tune in")
            on_air = radio.seconds_on_air() or 0.0
            began_at = time.time() - on_air
            remaining = radio.duration_s - on_air + args.tail
            print(f"on air; {remaining / 60:.1f} min to go", flush=True)
            time.sleep(max(0.0, remaining))  # the broadcast runs in real time
        finally:
            for process in processes.values():
                process.send_signal(signal.SIGTERM)
            for process in processes.values():
                process.wait(timeout=60)
            time.sleep(2.0)  # one last read of music_log after the worker flushed
            watch.stop.set()
            watch.join()
    return {"began_at": began_at, "rows": watch.rows}


def _setting(text: str) -> tuple[str, str]:
    """`NAME=VALUE` -> (NAME, VALUE), or a parser error that says what was expected."""
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"takes NAME=VALUE, got {text!r}")
    return name, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/fv7-radio-hour"))
    parser.add_argument(
        "--music-db", default="postgresql://postgres@127.0.0.1:5432/fv7_radio_hour",
        help="music_log's database (dropped and created)",
    )  # fmt: skip
    parser.add_argument("--identification-duration", type=float, default=10.0)
    parser.add_argument("--identification-interval", type=float, default=5.0)
    parser.add_argument("--tail", type=float, default=45.0, help="seconds after the hour ends")
    parser.add_argument("--output", type=Path, default=None, help="write the details as JSON")
    parser.add_argument(
        "--worker-env", action="append", default=[], metavar="NAME=VALUE", type=_setting,
        help="a setting for the worker, repeatable (e.g. MATCH_SECOND_LOOK_TRACKS=0)",
    )  # fmt: skip
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    catalogued, _ = split_corpus()
    catalog_url = f"sqlite:///{args.workdir / 'catalog.db'}"
    names = catalog_tracks(args.workdir, catalog_url, catalogued)
    started = time.perf_counter()
    in_catalog = set().union(*names.values())
    programme, airings = build_programme(args.minutes, args.seed, in_catalog)
    print(
        f"programme: {programme.size / RATE / 60:.1f} min, {len(airings)} items, "
        f"built in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    seen = run_station(args, programme, catalog_url)
    rows = [
        LoggedRow(at - seen["began_at"], frozenset(names.get((artist, title), ())), title)
        for at, artist, title, _ in seen["rows"]
    ]
    score = score_airplay(airings, rows)
    summary = score.summary()
    print(json.dumps(summary, indent=1))
    if args.output:
        details: dict[str, Any] = {
            "summary": summary,
            "plays": [
                {"label": o.airing.label, "start_s": round(o.airing.start_s, 1),
                 "duration_s": round(o.airing.duration_s, 1), "rows": o.rows,
                 "delay_s": o.delay_s}
                for o in score.plays
            ],
            "wrong": [{"at_s": round(r.at_s, 1), "title": r.label} for r in score.wrong],
            "airings": [
                {"label": a.label, "start_s": round(a.start_s, 1), "end_s": round(a.end_s, 1),
                 "catalogued": a.track is not None, "kind": a.kind}
                for a in airings
            ],
        }  # fmt: skip
        args.output.write_text(json.dumps(details, indent=1))


if __name__ == "__main__":
    main()
