"""PostgreSQL LISTEN: wake-ups between orchestrator processes without polling.

A writer calls `pg_notify` inside its transaction (see `tick_store.notify`), so a notification is
delivered only if the write committed. Notifications are hints, not state: after connecting (or
reconnecting) the listener reports every channel once, so whatever was missed while it was away
is caught up by the level-triggered readers it wakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

import psycopg
from sqlalchemy import make_url

log = logging.getLogger("fingerv7.orchestrator")


def libpq_url(sqlalchemy_url: str) -> str:
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


class NotificationListener:
    """Calls `handlers[channel]()` for each notification on that channel."""

    def __init__(self, database_url: str, handlers: Mapping[str, Callable[[], None]]) -> None:
        self._url = libpq_url(database_url)
        self._handlers = dict(handlers)
        self._stopping = False
        self.connected = False
        self.last_error: str | None = None

    async def run(self) -> None:
        delay_s = 0.5
        while not self._stopping:
            try:
                await self._listen()
                delay_s = 0.5
            except (psycopg.Error, OSError) as error:
                self.connected = False
                self.last_error = type(error).__name__
                if self._stopping:
                    return
                log.warning("[DATABASE] notification listener lost its connection; reconnecting")
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 10.0)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, connect_timeout=5, application_name="fingerv7-listen"
        ) as conn:
            for channel in self._handlers:
                await conn.execute(f'LISTEN "{channel}"')
            self.connected = True
            self.last_error = None
            for handler in self._handlers.values():
                handler()  # catch up on anything missed while not listening
            async for notification in conn.notifies():
                woken = self._handlers.get(notification.channel)
                if woken is not None:
                    woken()
                if self._stopping:
                    return

    def stop(self) -> None:
        self._stopping = True


async def cancel(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
