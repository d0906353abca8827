"""Fixtures for the stream source tests: a fresh database of each kind, as an async engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


@dataclass
class SourceDatabase:
    """A fresh database for one test: its async engine, its sync-style URL and its kind."""

    engine: AsyncEngine
    url: str
    dialect: str

    async def run(self, *statements: str) -> None:
        """Run raw SQL statements (one per call: SQLite takes no batches) in one transaction."""
        async with self.engine.begin() as connection:
            for statement in statements:
                await connection.exec_driver_sql(statement)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
async def source_database(
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> AsyncIterator[SourceDatabase]:
    """The same test on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'streams.db'}"
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'streams.db'}")
    else:
        make_pg_database: Callable[[], str] = request.getfixturevalue("make_pg_database")
        url = make_pg_database()
        engine = create_async_engine(url)
    try:
        yield SourceDatabase(engine=engine, url=url, dialect=request.param)
    finally:
        await engine.dispose()
