"""A hung music_log database is declared unavailable within the documented bound.

A hung server (stopped, wedged, behind a black-holing VPN) keeps its TCP connections open and
answers nothing; a real PostgreSQL cannot be made to do that from a test, so a proxy that stops
passing bytes on (and a listener that accepts and never answers) stands in for it. The writer must
give up after `operation_timeout_s`, not after psycopg's cancel request and wait for the cancelled
query (5 s each) on top of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fingerv7.playlog import MusicLogWriter, Play, PlayLogUnavailable, WriteOutcome
from tests.integration.playlog.conftest import through
from tests.integration.playlog.tcp_proxy import SwitchableProxy

pytestmark = pytest.mark.integration

HEARD = datetime(2025, 8, 26, 22, 0, tzinfo=UTC)
OPERATION_S = 2.0
# Room for a loaded machine; far below the 10 s psycopg's cancellation would add.
MARGIN_S = 2.5


def a_play(minutes: int) -> Play:
    heard = HEARD + timedelta(minutes=minutes)
    return Play(1, "Rádio Um", "Artista", f"Canção {minutes}", heard, "w1")


def writer(url: str) -> MusicLogWriter:
    return MusicLogWriter(
        url,
        "music_log",
        window_s=900,
        zone=ZoneInfo("America/Sao_Paulo"),
        connect_timeout_s=1,
        operation_timeout_s=OPERATION_S,
    )


async def timed_failure(music_log: MusicLogWriter, play: Play) -> tuple[float, str]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(PlayLogUnavailable) as failure:
        await music_log.write(play)
    return loop.time() - started, str(failure.value)


@pytest.fixture
async def silent_listener() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word (its port number)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, connection: asyncio.StreamWriter) -> None:
        held.append(connection)
        await reader.read()  # until the client gives up

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for connection in held:
        connection.close()
    server.close()
    await server.wait_closed()


async def test_a_database_that_hangs_mid_write_is_given_up_on_in_time(
    music_db: str, proxy: SwitchableProxy
) -> None:
    music_log = writer(through(proxy, music_db))
    try:
        assert await music_log.write(a_play(0)) is WriteOutcome.INSERTED  # connected, table read
        proxy.freeze()
        elapsed_s, reason = await timed_failure(music_log, a_play(30))
        assert OPERATION_S <= elapsed_s < OPERATION_S + MARGIN_S, elapsed_s
        assert f"no answer within {OPERATION_S:g} s" in reason
        # The next attempt (a new connection, to a server that still hangs) is bounded too.
        elapsed_s, _ = await timed_failure(music_log, a_play(60))
        assert elapsed_s < OPERATION_S + MARGIN_S, elapsed_s
    finally:
        await music_log.aclose()


async def test_a_server_that_accepts_and_never_answers_is_given_up_on_in_time(
    silent_listener: int,
) -> None:
    music_log = writer(f"postgresql://postgres@127.0.0.1:{silent_listener}/music")
    try:
        elapsed_s, _ = await timed_failure(music_log, a_play(0))
        assert elapsed_s < 1 + MARGIN_S, elapsed_s  # CONNECT_TIMEOUT, well inside the bound
    finally:
        await music_log.aclose()
