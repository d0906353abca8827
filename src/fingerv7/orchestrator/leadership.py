"""Exactly one process runs the monitor: the holder of the leader lease (storage/leader_lease.py).

The lease is renewed in the background every quarter of its lifetime. A leader that cannot renew
for a whole lifetime (database away, process paused) steps down on its own; a paused leader that
wakes up after someone else took over finds its epoch gone, and its writes are rejected by the
fence in the database whatever it believes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import Protocol

log = logging.getLogger("fingerv7.orchestrator")


def holder_id() -> str:
    """Who leads, for /health and the logs: host, process, and a nonce for restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Lease(Protocol):
    """A leader lease (`LeaderLease` on SQL, `InMemoryLease`): `epoch` is the fencing token
    while held, None otherwise."""

    epoch: int | None

    @property
    def ttl_s(self) -> float: ...

    async def try_acquire(self) -> int | None: ...

    async def renew(self) -> bool: ...

    async def release(self) -> None: ...


class Leadership:
    """The lease as the controller sees it: acquire, ask whether still held, release."""

    def __init__(self, lease: Lease) -> None:
        self._lease = lease
        self._renewer: asyncio.Task[None] | None = None
        self._held = False

    @property
    def epoch(self) -> int | None:
        return self._lease.epoch if self._held else None

    async def try_acquire(self) -> bool:
        epoch = await self._lease.try_acquire()
        if epoch is None:
            return False
        self._held = True
        self._renewer = asyncio.create_task(self._renew_forever(), name="leader-lease-renewal")
        return True

    def still_held(self) -> bool:
        return self._held and self._lease.epoch is not None

    def step_down(self) -> None:
        """Forget the lease locally (a write was fenced off: someone else leads)."""
        self._held = False
        if self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None

    async def release(self) -> None:
        self._held = False
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        await self._lease.release()

    async def _renew_forever(self) -> None:
        ttl_s = self._lease.ttl_s
        renewed_at = time.monotonic()
        while self._held:
            await asyncio.sleep(ttl_s / 4)
            try:
                if not await self._lease.renew():
                    log.warning("[BALANCE] another process took the leader lease; stepping down")
                    self._held = False
                    return
                renewed_at = time.monotonic()
            except Exception as error:
                if time.monotonic() - renewed_at > ttl_s:
                    log.warning("[ERROR] [BALANCE] cannot renew the leader lease (%s)", error)
                    self._held = False
                    return
