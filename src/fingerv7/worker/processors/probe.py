"""The built-in `probe` processor: proves a stream answers and counts its bytes.

It does the observable part of a real processor (open the stream, keep reading, reconnect with
backoff when it drops) without decoding audio, so a fleet can be run and drilled before the
fingerprinting pipeline exists. One read chunk that arrives while the worker owns the stream
counts as one unit of `processed` work.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import ClassVar

import httpx

from fingerv7.processing import (
    AssignedStream,
    StreamStats,
    describe_error,
    pause_before_reconnecting,
)
from fingerv7.reconnect_log import ReconnectLog
from fingerv7.retry import ExponentialBackoff

logger = logging.getLogger("fingerv7.worker.processors.probe")

CONNECT_TIMEOUT_S = 10.0
# A live stream that sends nothing for this long is treated as dropped.
READ_TIMEOUT_S = 30.0
RECONNECT_BASE_S = 0.5
RECONNECT_MAX_S = 30.0


class ProbeProcessor:
    """Reads each stream forever through one shared HTTP client."""

    name: ClassVar[str] = "probe"

    def __init__(
        self,
        *,
        reconnect_base_s: float = RECONNECT_BASE_S,
        reconnect_max_s: float = RECONNECT_MAX_S,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        self._reconnect_base_s = reconnect_base_s
        self._reconnect_max_s = reconnect_max_s
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(CONNECT_TIMEOUT_S, read=read_timeout_s),
            follow_redirects=True,
            headers={"User-Agent": "fingerv7-probe", "Icy-MetaData": "0"},
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
        )

    async def run(self, stream: AssignedStream, stats: StreamStats) -> None:
        backoff = ExponentialBackoff(self._reconnect_base_s, self._reconnect_max_s)
        reconnects = ReconnectLog(logger, f"{stream.id} ({stream.name})")
        while True:
            bytes_before = stats.bytes_read
            try:
                await self._read_until_dropped(stream, stats, backoff)
                problem = "stream ended"
            except httpx.HTTPError as exc:
                problem = describe_error(exc)
            await pause_before_reconnecting(
                stats,
                backoff,
                problem,
                reconnects,
                delivered_audio=stats.bytes_read > bytes_before,
            )

    async def _read_until_dropped(
        self, stream: AssignedStream, stats: StreamStats, backoff: ExponentialBackoff
    ) -> None:
        async with self._http.stream("GET", stream.url) as response:
            response.raise_for_status()
            stats.status = "running"
            async for chunk in response.aiter_raw():
                if not stats.may_process():
                    continue  # we may have lost the stream; the agent is about to stop us
                stats.bytes_read += len(chunk)
                stats.processed += 1
                stats.last_activity = datetime.now(UTC)
                backoff.reset()

    async def aclose(self) -> None:
        await self._http.aclose()
