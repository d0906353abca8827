"""Registrations grouped into one statement each, the way a database groups commits.

A fleet restart sends thousands of registrations in a few seconds. One statement per
registration would hold one pooled connection each while it waits its turn on a busy event loop:
the pool runs dry and callers get 503s. Here the first registration is written at once; those
that arrive while it is in flight wait and go together in the next statement, and so on. No
timer: a lone registration costs one round trip, a storm costs one per batch, and it uses one
connection at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from fingerv7.storage.fleet_rows import Registered, Registration

RegisterMany = Callable[[Sequence[Registration]], Awaitable[dict[str, Registered]]]


class RegistrationIntake:
    """Queues registrations and writes each batch with one call of `register_many`."""

    def __init__(self, register_many: RegisterMany, *, max_batch: int = 500) -> None:
        self._register_many = register_many
        self._max_batch = max_batch
        self._waiting: list[tuple[Registration, asyncio.Future[Registered]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0

    async def register(self, registration: Registration) -> Registered:
        """The stored row and desired set of this registration, once its batch is written.

        A failed batch raises its error in every caller of that batch (each answers it as it
        would have answered its own failure); nothing is half-written, the batch being one
        statement.
        """
        answer: asyncio.Future[Registered] = asyncio.get_running_loop().create_future()
        self._waiting.append((registration, answer))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_waiting())
        return await answer

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._write(batch)
        finally:
            self._writer = None

    async def _write(self, batch: list[tuple[Registration, asyncio.Future[Registered]]]) -> None:
        self.batches += 1
        try:
            stored = await self._register_many([registration for registration, _ in batch])
        except asyncio.CancelledError:  # shutting down: nobody is left waiting forever
            for _, answer in batch + self._waiting:
                answer.cancel()
            raise
        except Exception as error:  # every caller of the batch answers it
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(error)
            return
        for registration, answer in batch:
            if not answer.done():  # its caller may have gone (a cancelled request)
                answer.set_result(stored[registration.instance_id])
