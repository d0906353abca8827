"""The stores raise their own errors, never SQLAlchemy's, and the API answers those as before.

Real failures of a real PostgreSQL: a value out of its range, a server that does not answer, a
pool whose every connection is taken. Each is seen as a storage error at the store and as the
API's documented answer (503 with Retry-After, the same details) at the edge.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fingerv7.orchestrator.heartbeat_intake import FLUSH_CHUNK, HeartbeatIntake
from fingerv7.orchestrator.settings import OrchestratorSettings
from fingerv7.storage.database import create_engine
from fingerv7.storage.errors import DatabaseBusy, DatabaseFailure, ValueRefused
from fingerv7.storage.fleet_rows import Registration
from fingerv7.storage.fleet_store import FleetStore
from fingerv7.storage.migrate import upgrade_to_head
from fingerv7.storage.recent_plays import recent_plays
from fingerv7.storage.report_store import ReportStore
from fingerv7.storage.schema import instances
from tests.support.in_process import in_process_app

pytestmark = pytest.mark.integration

# Nothing listens on port 1: the connection is refused at once.
UNREACHABLE_URL = "postgresql://postgres@127.0.0.1:1/fingerv7"
SETTINGS = OrchestratorSettings(
    _env_file=None,  # type: ignore[call-arg]
    orchestrator_api_key=SecretStr("shared-key"),
)
READER = {"Authorization": "Bearer shared-key"}


@pytest.fixture
async def unreachable() -> AsyncIterator[AsyncEngine]:
    engine = create_engine(UNREACHABLE_URL)
    yield engine
    await engine.dispose()


@pytest.fixture
async def exhausted(pg_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine whose every pooled connection (one, plus one overflow) is held by the test."""
    engine = create_engine(pg_url, pool_size=1, pool_timeout_s=0.1)
    held: list[AsyncConnection] = [await engine.connect() for _ in range(2)]
    yield engine
    for connection in held:
        await connection.close()
    await engine.dispose()


async def test_an_unreachable_database_is_a_database_failure(unreachable: AsyncEngine) -> None:
    with pytest.raises(DatabaseFailure) as raised:
        await FleetStore(unreachable).instances()

    assert not isinstance(raised.value, ValueRefused)
    assert raised.value.kind == "OperationalError"
    assert isinstance(raised.value.__cause__, OperationalError)  # the original, for tracebacks
    assert str(raised.value).startswith("OperationalError: ")


async def test_a_value_out_of_range_is_refused(pg_url: str) -> None:
    upgrade_to_head(pg_url)
    engine = create_engine(pg_url)
    try:
        # max_streams is a 32-bit column; the API's validation keeps such values out.
        registration = Registration("w1", 2**40, ["audio_fingerprinting"], "0.1", None)
        with pytest.raises(ValueRefused) as raised:
            await FleetStore(engine).register(registration)
    finally:
        await engine.dispose()

    assert raised.value.kind == "DataError"
    assert isinstance(raised.value.__cause__, DataError)


async def test_a_pool_without_a_free_connection_is_busy(exhausted: AsyncEngine) -> None:
    with pytest.raises(DatabaseBusy) as raised:
        await FleetStore(exhausted).instances()

    assert isinstance(raised.value.__cause__, PoolTimeout)


async def test_other_stores_map_their_errors_too(unreachable: AsyncEngine) -> None:
    with pytest.raises(DatabaseFailure):
        await ReportStore(unreachable).desired_sets(["w1"])
    with pytest.raises(DatabaseFailure):
        await recent_plays(unreachable, "music_log", 10)


async def test_heartbeat_reports_wait_for_the_database_to_return(
    unreachable: AsyncEngine,
) -> None:
    intake = HeartbeatIntake(ReportStore(unreachable), idle_flush_s=0.01)
    intake.record("w1", [2, 1], 3, {}, stopping=False, urgent=False)

    await intake.flush()

    assert intake.backlog == 1  # kept for the next flush
    assert intake.last_error is not None
    assert intake.last_error.startswith("OperationalError: ")


async def test_a_refused_chunk_keeps_itself_and_what_follows(pg_url: str) -> None:
    """A flush writes in chunks; the chunks before a refused one are stored, the rest kept."""
    upgrade_to_head(pg_url)
    engine = create_engine(pg_url)
    names = [f"w{n:04d}" for n in range(FLUSH_CHUNK * 2 + 10)]
    try:
        store = FleetStore(engine)
        await store.register_many(
            [Registration(name, 10, ["audio_fingerprinting"], "0.1", None) for name in names]
        )
        intake = HeartbeatIntake(ReportStore(engine), idle_flush_s=0.01)
        for position, name in enumerate(names):
            # One generation out of PostgreSQL's bigint range, in the second chunk.
            generation = 2**70 if position == FLUSH_CHUNK + 5 else 0
            intake.record(name, [], generation, {}, stopping=False, urgent=False)

        await intake.flush()

        async with engine.connect() as conn:
            query = select(instances.c.id, instances.c.heartbeat_count)
            beats = {row.id: row.heartbeat_count for row in await conn.execute(query)}
    finally:
        await engine.dispose()

    assert intake.backlog == len(names) - FLUSH_CHUNK  # the refused chunk and the one after it
    assert intake.last_error is not None
    assert [beats[name] for name in names[:FLUSH_CHUNK]] == [1] * FLUSH_CHUNK
    assert [beats[name] for name in names[FLUSH_CHUNK:]] == [0] * (len(names) - FLUSH_CHUNK)


async def test_the_api_answers_an_unreachable_database_with_503(unreachable: AsyncEngine) -> None:
    async with in_process_app(SETTINGS, FleetStore(unreachable)) as app:
        response = await app.client.get("/instances", headers=READER)
        registration = {
            "instance_id": "w1",
            "max_streams": 5,
            "capabilities": ["audio_fingerprinting"],
        }
        registered = await app.client.post("/register", json=registration, headers=READER)

    for answer in (response, registered):
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "2"
        assert answer.json() == {
            "detail": "the orchestrator's database is unavailable; retry shortly"
        }


async def test_the_api_answers_an_exhausted_pool_with_503_busy(exhausted: AsyncEngine) -> None:
    async with in_process_app(SETTINGS, FleetStore(exhausted)) as app:
        response = await app.client.get("/instances", headers=READER)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.json() == {"detail": "the orchestrator is busy; retry shortly"}


async def test_recent_identifications_of_an_unreachable_database_are_unavailable(
    unreachable: AsyncEngine,
) -> None:
    async with in_process_app(SETTINGS, FleetStore(unreachable)) as app:
        app.runtime.source_engine = unreachable  # where music_log lives
        response = await app.client.get("/identifications/recent", headers=READER)

    assert response.status_code == 200
    assert response.json()["available"] is False
