"""Static mode against a real PostgreSQL streams table in the original shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from fingerv7.core.sharding import SECONDS_PER_HOUR
from fingerv7.storage.stream_source import SqlStreamSource
from fingerv7.worker.journal import OwnershipJournal
from fingerv7.worker.reconciler import Reconciler
from fingerv7.worker.sample_streams import LocalStreamServer
from fingerv7.worker.settings import WorkerSettings
from fingerv7.worker.static_mode import PostgresStreamSource, StaticAgent
from fingerv7.worker.status import AgentCounters
from fingerv7.worker.supervisor import StreamSupervisor
from tests.integration.worker.support import Cluster, ScriptedProcessor
from tests.support.orchestrator import eventually

pytestmark = pytest.mark.integration


def original_streams_table(pg_url: str, server: LocalStreamServer, count: int) -> str:
    """The original `streams` table (index stored as text) with `count` rows; returns the db."""
    database = make_url(pg_url).database
    assert database is not None
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={database}") as conn:
        conn.execute(
            "CREATE TABLE streams (url text, name text, sheet text, cidade text, estado text, "
            'regiao text, segmento text, "index" text)'
        )
        for i in range(count):
            conn.execute(
                "INSERT INTO streams VALUES "
                "(%s, %s, 'sheet1', 'Recife', 'PE', 'Nordeste', 'pop', %s)",
                (server.url(i), f"Radio {i}", str(i)),
            )
        conn.execute("INSERT INTO streams VALUES ('http://x', 'Broken', '', '', '', '', '', 'n/a')")
    return database


def static_settings(database: str, **values: object) -> WorkerSettings:
    base: dict[str, Any] = {
        "use_orchestrator": False,
        "server_id": "fingerv7-002",
        "total_servers": 3,
        "postgres_host": "127.0.0.1",
        "postgres_db": database,
        "postgres_user": "postgres",
        "worker_http_host": "127.0.0.1",
        "worker_http_port": 0,
        "heartbeat_interval": 0.5,
    }
    return WorkerSettings(_env_file=None, **(base | values))  # type: ignore[call-arg]


class WallClock:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


async def test_static_worker_runs_its_shard_and_rotation_moves_it(
    pg_url: str, stream_server: LocalStreamServer, tmp_path: Path
) -> None:
    database = original_streams_table(pg_url, stream_server, 9)
    settings = static_settings(database, enable_rotation=True, rotation_hours=1)
    supervisor = StreamSupervisor(ScriptedProcessor(), OwnershipJournal(None, "w2"))
    reconciler = Reconciler(supervisor, max_streams=50)
    clock = WallClock(1000 * SECONDS_PER_HOUR + 5)  # period 1000: offset 1000 % 3 == 1
    source = PostgresStreamSource(settings.postgres_conninfo(), settings.streams_table_name)
    agent = StaticAgent(settings, source, reconciler, AgentCounters(), wall_clock=clock)

    await agent.refresh()
    assert supervisor.running_ids() == [0, 3, 6]
    running = supervisor.get(3)
    assert running is not None
    assert running.stream.metadata["cidade"] == "Recife" and running.stream.name == "Radio 3"

    clock.now_s += SECONDS_PER_HOUR
    await agent.refresh()
    assert supervisor.running_ids() == [2, 5, 8]
    clock.now_s += SECONDS_PER_HOUR
    await agent.refresh()
    assert supervisor.running_ids() == [1, 4, 7]
    await reconciler.reset(reason="test")


async def test_unreadable_table_keeps_the_current_streams(
    pg_url: str, stream_server: LocalStreamServer
) -> None:
    database = original_streams_table(pg_url, stream_server, 6)
    settings = static_settings(database)
    supervisor = StreamSupervisor(ScriptedProcessor(), OwnershipJournal(None, "w2"))
    reconciler = Reconciler(supervisor, max_streams=50)
    counters = AgentCounters()
    good = PostgresStreamSource(settings.postgres_conninfo(), "streams")
    agent = StaticAgent(settings, good, reconciler, counters)
    await agent.refresh()
    assert supervisor.running_ids() == [1, 4]
    agent.source = PostgresStreamSource(settings.postgres_conninfo(), "no_such_table")
    await agent.refresh()
    assert supervisor.running_ids() == [1, 4]
    assert counters.last_error is not None and "no_such_table" in counters.last_error
    await reconciler.reset(reason="test")


async def test_static_worker_process_reads_its_shard(
    pg_url: str, stream_server: LocalStreamServer, cluster: Cluster
) -> None:
    database = original_streams_table(pg_url, stream_server, 6)
    worker = cluster.worker(static_settings(database, server_id="3"))
    await eventually(lambda: worker.running == [2, 5], what="shard 3 of 3 running")
    await eventually(lambda: worker.runtime.supervisor.totals().bytes_read > 0, what="audio read")
    assert worker.runtime.reporter.health()[0]["mode"] == "static"
    assert await worker.stop() == 0
    assert worker.running == []


async def test_static_mode_reads_a_table_exactly_as_the_orchestrator_does(pg_url: str) -> None:
    """One set of stream-row rules: ids as text, yes/no words, metadata, duplicate ids."""
    database = make_url(pg_url).database
    conninfo = f"host=127.0.0.1 user=postgres dbname={database}"
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            'CREATE TABLE feeds ("index" text, url text, name text, active text, '
            "metadata jsonb, cidade text, bitrate int)"
        )
        conn.execute(
            "INSERT INTO feeds VALUES "
            """('12.0', 'http://r/12', 'Doze', 'sim', '{"regiao": "Sul"}', 'Recife', 128), """
            "('3', 'http://r/3-old', 'Três (old)', 'não', NULL, NULL, NULL), "
            "('3', 'http://r/3', 'Três', 'true', NULL, 'Natal', NULL), "
            "('7', 'http://r/7', '', NULL, NULL, NULL, 64), "
            "('7', 'http://r/7-again', 'Sete again', 'yes', NULL, NULL, NULL), "
            "('x', 'http://r/x', 'Bad id', 'sim', NULL, NULL, NULL), "
            "('8', '', 'No url', 'sim', NULL, NULL, NULL)"
        )
    engine = create_async_engine(pg_url)
    try:
        orchestrated = await SqlStreamSource(engine, "feeds").load()
    finally:
        await engine.dispose()
    static = await PostgresStreamSource(conninfo, "feeds").load()

    assert [(s.id, s.url, s.name, s.metadata) for s in orchestrated] == [
        (n.number, n.stream.url, n.stream.name, dict(n.stream.metadata)) for n in static
    ]
    assert [s.id for s in orchestrated] == [3, 7, 12]
    assert [s.url for s in orchestrated] == ["http://r/3", "http://r/7", "http://r/12"]
