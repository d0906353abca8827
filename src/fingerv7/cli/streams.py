"""`fingerv7 streams import|list`: the embedded streams table in the orchestrator's own database.

The database is `DATABASE_URL`, read from the environment and `.env` exactly as
`fingerv7 orchestrator` reads it (default `sqlite:///./fingerv7.db`, the embedded default), so on
a fresh machine `fingerv7 streams import radios.csv` is all it takes to give the orchestrator its
streams, and both commands always use the same database.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from sqlalchemy import MetaData
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from fingerv7.cli.settings_errors import settings_or_exit
from fingerv7.orchestrator.settings import OrchestratorDatabaseSettings
from fingerv7.storage.database_url import describe_url, to_async_url
from fingerv7.storage.migrate import upgrade_to_head
from fingerv7.storage.stream_file import StreamFileError, parse_stream_file
from fingerv7.storage.stream_import import (
    ImportResult,
    StreamImportError,
    import_streams,
    validate_stream_rows,
)
from fingerv7.storage.stream_records import SourceStream
from fingerv7.storage.stream_source import SqlStreamSource, StreamSourceError
from fingerv7.storage.stream_table import define_embedded_streams_table

streams_app = typer.Typer(
    name="streams",
    help="The streams to monitor, kept in the orchestrator's own database (DATABASE_URL).",
    no_args_is_help=True,
)

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="The orchestrator's database (SQLAlchemy or postgresql:// URL). "
        "Default: DATABASE_URL from the environment or .env, as `fingerv7 orchestrator` reads it.",
        show_default=False,
    ),
]

_Result = TypeVar("_Result")


def register(app: typer.Typer) -> None:
    """Add the `streams` command group to the `fingerv7` command."""
    app.add_typer(streams_app, name="streams")


@streams_app.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="CSV or JSON with url and name."
        ),
    ],
    deactivate_missing: Annotated[
        bool,
        typer.Option(
            "--deactivate-missing",
            help="Mark active streams that are not in FILE as inactive (they are not deleted).",
        ),
    ] = False,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Add or update streams from FILE; re-importing the same file changes nothing."""
    database_url = database_url or _orchestrator_database_url()
    try:
        rows = parse_stream_file(file)
        validate_stream_rows(rows)  # before touching the database: a bad file changes nothing
    except StreamFileError as error:
        _fail(str(error))
    except StreamImportError as error:
        _fail(f"{file}: {error}")

    _migrate(database_url)
    table = define_embedded_streams_table(MetaData())

    async def run(engine: AsyncEngine) -> ImportResult:
        return await import_streams(engine, table, rows, deactivate_missing=deactivate_missing)

    try:
        result = _run_with_engine(database_url, run)
    except StreamImportError as error:
        _fail(f"{file}: {error}")
    typer.echo(
        f"Imported {len(rows)} stream(s) into {describe_url(database_url)}: {result.summary()}"
    )


@streams_app.command("list")
def list_command(
    include_inactive: Annotated[
        bool, typer.Option("--all", help="Include inactive streams.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Show the streams the orchestrator would monitor (active ones unless --all)."""
    database_url = database_url or _orchestrator_database_url()

    async def run(engine: AsyncEngine) -> list[SourceStream]:
        source = SqlStreamSource(engine, "streams")
        try:
            return await source.load(include_inactive=include_inactive)
        except StreamSourceError as error:
            hint = "; import streams with `fingerv7 streams import FILE`"
            _fail(f"{error}{hint if 'not found' in str(error) else ''}")

    streams = _run_with_engine(database_url, run)
    if as_json:
        typer.echo(
            json.dumps([_as_json(stream) for stream in streams], ensure_ascii=False, indent=2)
        )
        return
    typer.echo(_as_table(streams))
    active = sum(stream.active for stream in streams)
    typer.echo(f"{len(streams)} stream(s), {active} active, in {describe_url(database_url)}")


def _orchestrator_database_url() -> str:
    return settings_or_exit(OrchestratorDatabaseSettings).database_url.get_secret_value()


def _migrate(database_url: str) -> None:
    """Create or update the orchestrator's schema (streams table included) before importing."""
    try:
        upgrade_to_head(to_async_url(database_url))
    except ValueError as error:
        _fail(f"DATABASE_URL: {error}")
    except SQLAlchemyError as error:
        _fail(f"cannot prepare {describe_url(database_url)}: {_reason(error)}")


def _reason(error: BaseException) -> str:
    return " ".join(str(getattr(error, "orig", None) or error).split())[:300]


def _run_with_engine(
    database_url: str, work: Callable[[AsyncEngine], Awaitable[_Result]]
) -> _Result:
    try:
        url = to_async_url(database_url)
    except ValueError as error:
        _fail(f"DATABASE_URL: {error}")

    async def main() -> _Result:
        engine = create_async_engine(url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except SQLAlchemyError as error:
        _fail(f"cannot use {describe_url(database_url)}: {_reason(error)}")


def _as_json(stream: SourceStream) -> dict[str, object]:
    return {
        "id": stream.id,
        "url": stream.url,
        "name": stream.name,
        "active": stream.active,
        "metadata": stream.metadata,
    }


def _as_table(streams: list[SourceStream]) -> str:
    header = ("id", "active", "region", "name", "url")
    lines = [
        (str(s.id), "yes" if s.active else "no", s.region or "-", s.name, s.url) for s in streams
    ]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in [header, *lines]
    )


def _fail(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code=1)
