"""`fingerv7 catalog add|list|remove` (and, from cli/identify.py, `fingerv7 identify`).

The database comes from `--database-url` or `DATABASE_URL` (a SQLAlchemy URL; `postgresql://`
is accepted and given the psycopg driver), else `sqlite:///./fingerv7.db` in the current folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from fingerv7.cli.settings_errors import settings_or_exit

if TYPE_CHECKING:
    from fingerv7.catalog import AddStatus, CatalogStore, TrackRecord

# The catalog pulls in NumPy, SciPy and PyAV: imported inside the commands, so that
# `fingerv7 --help` and the other commands start fast.

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL; default $DATABASE_URL or SQLite file."),
]


def register(app: typer.Typer) -> None:
    """Attach the `catalog` group and the `identify` command to the main CLI."""
    from fingerv7.cli import catalog_learned  # imports this module: here, not at the top

    catalog_app = typer.Typer(
        name="catalog",
        help="Manage the song catalog used for identification.",
        no_args_is_help=True,
    )
    catalog_app.command("add")(add_command)
    catalog_app.command("list")(list_command)
    catalog_app.command("remove")(remove_command)
    catalog_learned.register(catalog_app)  # learned / forget
    app.add_typer(catalog_app, name="catalog")
    from fingerv7.cli.identify import identify_command

    app.command("identify")(identify_command)


@contextmanager
def open_store(database_url: str | None) -> Iterator[CatalogStore]:
    """The catalog (schema migrated to the newest revision); connections closed at the end."""
    from fingerv7.catalog import CatalogDatabaseSettings, CatalogStore, create_catalog_engine

    url = database_url or settings_or_exit(CatalogDatabaseSettings).database_url.get_secret_value()
    engine = create_catalog_engine(url)
    try:
        store = CatalogStore(engine)
        store.create_schema()
        yield store
    finally:
        engine.dispose()


def add_command(
    paths: Annotated[list[Path], typer.Argument(help="Audio files or folders (searched deeply).")],
    database_url: DatabaseUrlOption = None,
) -> None:
    """Fingerprint audio files into the catalog; files already catalogued are skipped."""
    from fingerv7.catalog import AddStatus, audio_files

    console = Console(stderr=True)
    files = list(audio_files(paths))
    with open_store(database_url) as store:
        counts = _add_files(store, files, console)
    typer.echo(
        f"added {counts[AddStatus.ADDED]}, unchanged {counts[AddStatus.UNCHANGED]}, "
        f"failed {counts[AddStatus.FAILED]}"
        + (f", re-fingerprinted {counts[AddStatus.UPDATED]}" if counts[AddStatus.UPDATED] else "")
    )
    if counts[AddStatus.FAILED]:
        raise typer.Exit(code=1)


def _add_files(store: CatalogStore, files: list[Path], console: Console) -> dict[AddStatus, int]:
    from fingerv7.catalog import AddStatus, CatalogIngestor
    from fingerv7.core.fingerprint import FingerprintConfig

    ingestor = CatalogIngestor(store, FingerprintConfig())
    counts = dict.fromkeys(AddStatus, 0)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("Fingerprinting", total=len(files))
        for path in files:
            result = ingestor.add_file(path)
            counts[result.status] += 1
            if result.status is AddStatus.FAILED:
                console.print(f"[red]failed[/red] {path}: {result.error}")
            elif result.status is AddStatus.ADDED and result.track is not None:
                progress.console.print(
                    f"added #{result.track.id} {result.track.info.artist} - "
                    f"{result.track.info.title}"
                )
            progress.advance(task)
    return counts


def list_command(
    database_url: DatabaseUrlOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List catalogued tracks."""
    with open_store(database_url) as store:
        tracks = store.list_tracks()
    if as_json:
        for track in tracks:
            typer.echo(json.dumps(_track_json(track)))
        return
    table = Table("id", "artist", "title", "isrc", "label", "genre", "duration", "hashes")
    for track in tracks:
        info = track.info
        table.add_row(
            str(track.id),
            info.artist,
            info.title,
            info.isrc or "",
            info.label or "",
            info.genre or "",
            f"{track.duration_s:.1f} s",
            str(track.hash_count),
        )
    Console(width=160).print(table)
    typer.echo(f"{len(tracks)} track(s)")


def _track_json(track: TrackRecord) -> dict[str, object]:
    info = track.info
    return {
        "track_id": track.id,
        "title": info.title,
        "artist": info.artist,
        "isrc": info.isrc,
        "label": info.label,
        "genre": info.genre,
        "duration_s": round(track.duration_s, 2),
        "source_path": track.source_path,
        "hash_count": track.hash_count,
    }


def remove_command(
    track_id: Annotated[int, typer.Argument(help="Track id, as shown by `catalog list`.")],
    database_url: DatabaseUrlOption = None,
) -> None:
    """Remove a track and its fingerprints."""
    with open_store(database_url) as store:
        removed = store.remove_track(track_id)
    if not removed:
        typer.echo(f"no track with id {track_id}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"removed track {track_id}")
