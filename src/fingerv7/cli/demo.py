"""`fingerv7 demo`: a whole fleet on one machine with one command, identifying songs.

It builds a small catalog of generated songs, serves local radio stations that play them, fills
the embedded database with those stations, starts an orchestrator and N fingerprint workers as
real processes, and prints where to look. The workers log every play to `music_log` in the same
embedded database, so the dashboard's "Recent identifications" fills within seconds. On Ctrl-C
(or SIGTERM) it stops everything it started, workers first so they hand their streams back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from sqlalchemy import MetaData

from fingerv7.catalog import create_catalog_engine
from fingerv7.storage.database import create_engine
from fingerv7.storage.migrate import upgrade_to_head
from fingerv7.storage.stream_import import import_streams
from fingerv7.storage.stream_table import define_embedded_streams_table
from fingerv7.testing.radio import RadioSong
from fingerv7.testing.stations import DemoStations, add_to_catalog, demo_songs

STOP_TIMEOUT_S = 15.0
DEMO_TIMINGS = {
    "HEARTBEAT_INTERVAL": "5",
    "HEARTBEAT_WARNING_THRESHOLD": "10",
    "HEARTBEAT_TIMEOUT": "15",
    "REBALANCE_COOLDOWN": "10",
    "STREAM_SYNC_INTERVAL": "5",
}
DEMO_SONGS = range(1, 7)
DEMO_SONG_S = 20.0
# Identify every few seconds so plays show within seconds of a song starting.
DEMO_IDENTIFICATION = {"IDENTIFICATION_DURATION": "6", "IDENTIFICATION_INTERVAL": "3"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _build_catalog(catalog_url: str, songs: list[RadioSong]) -> int:
    """The demo's songs in a SQLite catalog (reused when it exists); returns the track count."""
    engine = create_catalog_engine(catalog_url)
    try:
        return len(add_to_catalog(engine, songs).list_tracks())
    finally:
        engine.dispose()


def _seed(database_url: str, server: DemoStations, count: int) -> None:
    upgrade_to_head(database_url)
    rows = [
        {
            "id": number,
            "url": server.url(number),
            "name": f"Demo Radio {number}",
            "cidade": "Recife",
            "estado": "PE",
            "regiao": "Nordeste",
            "segmento": "demo",
        }
        for number in range(1, count + 1)
    ]

    async def run() -> None:
        engine = create_engine(database_url)
        try:
            await import_streams(engine, define_embedded_streams_table(MetaData()), rows)
        finally:
            await engine.dispose()

    asyncio.run(run())


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "fingerv7", *args],
        env=os.environ | env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches the demo; it stops the children in order
    )


def _wait_for_health(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the orchestrator exited during startup")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the orchestrator did not answer within {timeout_s:g}s")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def demo(
    workers: Annotated[int, typer.Option(min=1, max=20, help="How many workers to start.")] = 3,
    streams: Annotated[
        int, typer.Option(min=1, max=500, help="How many local stations to serve.")
    ] = 12,
    max_streams: Annotated[int, typer.Option(min=1, max=1000, help="Capacity per worker.")] = 10,
    port: Annotated[int, typer.Option(help="Orchestrator port.")] = 8000,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo keeps its database and logs.")
    ] = Path("fingerv7-demo"),
) -> None:
    """Run an orchestrator, local stations playing a small catalog, and fingerprint workers that
    log each identified play to an embedded music_log, on this machine until Ctrl-C (SIGTERM or
    a closed terminal stop it too, children included)."""
    directory.mkdir(parents=True, exist_ok=True)
    database_path = (directory / "fingerv7.db").resolve()
    database_url = f"sqlite:///{database_path}"
    catalog_url = f"sqlite:///{(directory / 'catalog.db').resolve()}"
    url = f"http://127.0.0.1:{port}"
    typer.echo("building the demo catalog and its stations ...")
    songs = demo_songs(DEMO_SONGS, DEMO_SONG_S)
    tracks = _build_catalog(catalog_url, songs)
    if tracks == 0:  # cannot happen unless the catalog file is broken: say so, do not run blind
        typer.echo(f"demo failed: the catalog {catalog_url} is empty", err=True)
        raise typer.Exit(1)
    stream_server = DemoStations(songs).start()
    processes: list[subprocess.Popen[bytes]] = []
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    # SIGTERM (`kill`) and SIGHUP (the terminal closed) stop it as Ctrl-C does: its children run
    # in their own session, so a demo that died without stopping them would leave them running.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)
    try:
        _seed(database_url, stream_server, streams)
        common = {"DATABASE_URL": database_url, "LOG_LEVEL": "INFO"} | DEMO_TIMINGS
        orchestrator = _spawn(
            ["orchestrator", "--port", str(port)], common, directory / "orchestrator.log"
        )
        processes.append(orchestrator)
        _wait_for_health(url, orchestrator, timeout_s=60)
        worker_ports = []
        for number in range(1, workers + 1):
            worker_port = _free_port()
            worker_ports.append(worker_port)
            env = (
                common
                | {
                    "INSTANCE_ID": f"demo-worker-{number}",
                    "ORCHESTRATOR_URL": url,
                    "MAX_STREAMS": str(max_streams),
                    "WORKER_HTTP_PORT": str(worker_port),
                    "PROCESSOR": "fingerprint",
                    "CATALOG_DATABASE_URL": catalog_url,
                    "MUSIC_LOG_PATH": str(database_path),
                    "DB_TABLE_NAME": "music_log",
                    "PLAYLOG_BUFFER_PATH": str((directory / f"playlog-{number}.sqlite3").resolve()),
                }
                | DEMO_IDENTIFICATION
            )
            processes.insert(0, _spawn(["worker"], env, directory / f"worker-{number}.log"))
        _announce(url, worker_ports, directory, streams, tracks)
        while not stopping:
            exited = [p for p in processes if p.poll() is not None]
            if exited:
                typer.echo(f"a demo process exited (code {exited[0].returncode}); stopping")
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except RuntimeError as error:
        typer.echo(f"demo failed: {error} (see the logs in {directory})", err=True)
        raise typer.Exit(1) from None
    finally:
        typer.echo("stopping the demo: workers first, then the orchestrator ...")
        _stop(processes)
        stream_server.stop()
    typer.echo("demo stopped")


def _announce(
    url: str, worker_ports: list[int], directory: Path, streams: int, tracks: int
) -> None:
    lines = [
        f"FingerV7 demo: {streams} local stations playing {tracks} catalog songs, "
        f"{len(worker_ports)} fingerprint workers",
        f"  plays            {url}/dashboard (Recent identifications), "
        f"{url}/identifications/recent; music_log is in {directory}/fingerv7.db",
        f"  dashboard        {url}/dashboard",
        f"  API docs         {url}/docs",
        f"  instances        {url}/instances",
        f"  stream status    {url}/streams/status",
        f"  health           {url}/health",
    ]
    lines += [
        f"  worker {n} metrics {'':<2}http://127.0.0.1:{p}/metrics"
        for n, p in enumerate(worker_ports, 1)
    ]
    lines += [f"  logs             {directory}/", "Press Ctrl-C to stop everything."]
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command()(demo)
