"""`fingerv7 catalog learned` and `fingerv7 catalog forget`: what the catalog learned by itself.

Workers with fallback recognizers keep the fingerprints of songs those named (see
docs/identification.md#a-catalog-that-learns). These commands list them, grouped by song, and
remove one (all its fragments) when it was named wrongly or is not wanted.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fingerv7.cli.catalog import DatabaseUrlOption, open_store


def register(catalog_app: typer.Typer) -> None:
    catalog_app.command("learned")(learned_command)
    catalog_app.command("forget")(forget_command)


def learned_command(
    database_url: DatabaseUrlOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
) -> None:
    """List learned songs: key, metadata, recognizers, fragments, seconds, merged reference."""
    from fingerv7.catalog.learning import LearningCatalog
    from fingerv7.core.fingerprint import FingerprintConfig

    with open_store(database_url) as store:
        learning = LearningCatalog(store, FingerprintConfig())
        learning.create_schema()
        songs = learning.songs()
    if as_json:
        payload = [
            {
                "key": song.key,
                "artist": song.info.artist,
                "title": song.info.title,
                "isrc": song.info.isrc,
                "label": song.info.label,
                "genre": song.info.genre,
                "sources": list(song.sources),
                "track_ids": list(song.track_ids),
                "seconds": round(song.seconds, 1),
                "merged_into": song.merged_into,
                "last_learned": song.last_learned.isoformat() if song.last_learned else None,
            }
            for song in songs
        ]
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    table = Table("key", "artist", "title", "from", "fragments", "seconds", "merged into")
    for song in songs:
        table.add_row(
            song.key,
            song.info.artist,
            song.info.title,
            ",".join(song.sources),
            str(len(song.track_ids)),
            f"{song.seconds:.0f}",
            f"#{song.merged_into}" if song.merged_into else "",
        )
    Console(width=160).print(table)
    typer.echo(f"{len(songs)} learned song(s)")


def forget_command(
    song: Annotated[str, typer.Argument(help="A key from `catalog learned`, or a fragment id.")],
    database_url: DatabaseUrlOption = None,
) -> None:
    """Remove a learned song and all its fragments (workers drop it at their next refresh)."""
    from fingerv7.catalog.learning import LearningCatalog
    from fingerv7.core.fingerprint import FingerprintConfig

    with open_store(database_url) as store:
        learning = LearningCatalog(store, FingerprintConfig())
        learning.create_schema()
        removed = learning.forget(song)
    if not removed:
        typer.echo(f"no learned song {song!r}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"forgot {song}: {removed} fragment(s) removed")
