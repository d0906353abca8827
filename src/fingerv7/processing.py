"""The processor contract: what runs inside one stream task of a worker.

It sits below `worker/`, `audio/` and `playlog/` (which implement or use it), so those packages
never import the worker.

The agent starts one task per assigned stream and calls :meth:`StreamProcessor.run`; it stops the
stream by cancelling that task. A processor raises to signal a crash: the agent counts it and
restarts the task with backoff, and never lets one stream take the worker down.

Before a processor commits any result (counts a read, writes an identification), it asks
:meth:`StreamStats.may_process`. That answers False when the worker may no longer own the stream,
e.g. right after the process was frozen for longer than the heartbeat timeout: the orchestrator
may already have given the stream to another worker, and the agent is about to stop this task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from fingerv7.core.credentials import RedactsLastError
from fingerv7.reconnect_log import ReconnectLog
from fingerv7.retry import ExponentialBackoff


@dataclass(frozen=True, slots=True)
class AssignedStream:
    """A stream as the orchestrator hands it out (`streams[]` of the heartbeat answer)."""

    id: int
    url: str
    name: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class StreamStats(RedactsLastError):
    """Counters one stream task keeps; the agent sums them into heartbeats and `/metrics`.

    Setting `status` to a new value stamps `status_since`, so "reconnecting since T" needs no
    bookkeeping in the processors (they set `status` freely, even once per chunk read).
    """

    status_since: datetime | None = None  # set whenever `status` changes (declared first)
    status: str = "starting"  # starting | running | reconnecting | failed
    processed: int = 0  # units of work done (probe: successful reads; fingerprint: windows matched)
    errors: int = 0
    bytes_read: int = 0
    identifications: int = 0
    restarts: int = 0
    last_activity: datetime | None = None
    last_error: str | None = None
    codec: str | None = None  # e.g. "mp3", as the capture found it
    bitrate_kbps: int | None = None  # as the server announced it (icy-br), if it did
    last_identified_at: datetime | None = None
    last_song: str | None = None  # "Artist - Title" of the last identification
    # Set by the agent: answers whether this worker may still act for the stream (see module doc).
    ownership_check: Callable[[], bool] = field(default=lambda: True, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "status" and getattr(self, "status", None) != value:
            object.__setattr__(self, "status_since", datetime.now(UTC))
        # Not super(): slots=True rebuilds the class, and zero-argument super() breaks then.
        RedactsLastError.__setattr__(self, name, value)  # keeps last_error free of secrets

    def may_process(self) -> bool:
        """True while results for this stream may be committed; drop work when False."""
        return self.ownership_check()


class StreamProcessor(Protocol):
    """One implementation per kind of work; selected by the worker's `PROCESSOR` setting."""

    name: ClassVar[str]

    async def run(self, stream: AssignedStream, stats: StreamStats) -> None:
        """Work on `stream` until cancelled, updating `stats` as it goes."""
        ...

    async def aclose(self) -> None:
        """Release shared resources (HTTP clients, database pools) when the worker stops."""
        ...


def describe_error(error: BaseException) -> str:
    """`ReadTimeout: timed out`, or just the type when the error has no message."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def pause_before_reconnecting(
    stats: StreamStats,
    backoff: ExponentialBackoff,
    problem: str,
    reconnects: ReconnectLog,
    *,
    delivered_audio: bool,
) -> None:
    """After a stream dropped: count it on `stats`, log it (once per outage, then a reminder),
    and sleep the backoff's next delay. `delivered_audio`: the connection worked for a while."""
    if delivered_audio:
        backoff.reset()  # that connection delivered audio: start the backoff afresh
    stats.errors += 1
    stats.last_error = problem
    stats.status = "reconnecting"
    delay_s = backoff.next_delay_s()
    reconnects.failed(problem, delay_s, delivered_audio=delivered_audio)
    await asyncio.sleep(delay_s)
