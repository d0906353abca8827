"""`fingerv7 identify FILE [FILE ...]`: name the catalog track of each clip, index loaded once.

With `--json`, one object per line per file, in the order given:
`{"file": ..., "match": null | {"track_id", "title", "artist", "isrc", "source_path", "offset_s",
"speed", "aligned_hashes", "confidence", "score"}}`, plus `"error"` for a file that could not be
read. Exit code 0 when every file was read (matched or not), 2 when one could not be.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from fingerv7.catalog import Identification

UNREADABLE_EXIT_CODE = 2


def identify_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Audio clips (any format FFmpeg reads).", metavar="FILE", show_default=False
        ),
    ],
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="SQLAlchemy URL; default $DATABASE_URL or SQLite file."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line per file.")
    ] = False,
) -> None:
    """Name the catalog track each clip comes from; exit code 2 if a file could not be read."""
    from fingerv7.catalog import AudioDecodeError, CatalogIdentifier, StaleCatalogError
    from fingerv7.cli.catalog import open_store
    from fingerv7.core.fingerprint import FingerprintConfig, MatchConfig

    unreadable = 0
    with open_store(database_url) as store:
        try:
            identifier = CatalogIdentifier(store, FingerprintConfig(), MatchConfig())
        except StaleCatalogError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(code=1) from error
        for path in files:
            try:
                result = identifier.identify_file(path)
            except AudioDecodeError as error:
                unreadable += 1
                _report_error(path, str(error), as_json)
                continue
            typer.echo(json.dumps(_as_json(path, result)) if as_json else _as_text(path, result))
    if unreadable:
        raise typer.Exit(code=UNREADABLE_EXIT_CODE)


def _report_error(path: Path, error: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"file": str(path), "match": None, "error": error}))
    else:
        typer.echo(f"{path}: {error}", err=True)


def _as_json(path: Path, result: Identification | None) -> dict[str, Any]:
    if result is None:
        return {"file": str(path), "match": None}
    match, track = result.match, result.track
    return {
        "file": str(path),
        "match": {
            "track_id": track.id,
            "title": track.info.title,
            "artist": track.info.artist,
            "isrc": track.info.isrc,
            "source_path": track.source_path,
            "offset_s": round(match.offset_s, 2),
            "speed": round(match.speed, 4),
            "aligned_hashes": match.aligned_hashes,
            "confidence": round(match.confidence, 3),
            "score": round(match.score, 1),
        },
    }


def _as_text(path: Path, result: Identification | None) -> str:
    if result is None:
        return f"{path}: no match"
    match, info = result.match, result.track.info
    return (
        f"{path}: #{result.track.id} {info.artist} - {info.title} at {match.offset_s:.1f} s "
        f"(speed {match.speed:.3f}, {match.aligned_hashes} aligned hashes, "
        f"score {match.score:.0f}, confidence {match.confidence:.2f})"
    )
