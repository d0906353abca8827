"""Wakes long-polling workers when their assignment generation moves.

In-process, the controller calls :meth:`AssignmentWatch.notify` right after it commits a new
generation. Across processes (MAX_WORKERS > 1, or several replicas), one shared poller per
process reads the fleet generation while anyone is waiting, so each waiter costs no queries until
something actually changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from fingerv7.storage.fleet_store import FleetStore

POLL_INTERVAL_S = 0.2


class AssignmentWatch:
    def __init__(self, store: FleetStore, poll_interval_s: float = POLL_INTERVAL_S) -> None:
        self._store = store
        self._poll_interval_s = poll_interval_s
        self._changed = asyncio.Event()
        self._waiters = 0
        self._poller: asyncio.Task[None] | None = None
        self._last_seen_generation: int | None = None
        self._closing = False

    def notify(self) -> None:
        """Wake every waiter; each re-reads its own generation."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for(
        self, instance_id: str, after_generation: int, timeout_s: float
    ) -> int | None:
        """The instance's generation once it exceeds `after_generation`, or at the timeout.

        None when the instance is not registered (the caller answers 404).
        """
        deadline = time.monotonic() + timeout_s
        self._waiters += 1
        self._ensure_poller()
        try:
            while True:
                changed = self._changed
                generation = await self._store.instance_generation(instance_id)
                remaining_s = deadline - time.monotonic()
                done = generation is None or generation > after_generation or remaining_s <= 0
                if done or self._closing:
                    return generation
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=remaining_s)
        finally:
            self._waiters -= 1

    def _ensure_poller(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll(), name="assignment-watch-poller")

    async def _poll(self) -> None:
        while self._waiters > 0:
            with contextlib.suppress(Exception):  # the database may be briefly away; try again
                generation = await self._store.fleet_generation()
                if generation != self._last_seen_generation:
                    if self._last_seen_generation is not None:
                        self.notify()
                    self._last_seen_generation = generation
            await asyncio.sleep(self._poll_interval_s)
        self._last_seen_generation = None

    def close(self) -> None:
        """Answer every open long-poll now (the server is shutting down)."""
        self._closing = True
        self.notify()

    async def aclose(self) -> None:
        self.close()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
