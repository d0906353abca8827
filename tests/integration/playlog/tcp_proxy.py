"""A TCP proxy in front of the real PostgreSQL that a test can switch off and on again.

Switched off, it closes every open connection and refuses new ones (the port stops listening):
to the writer, the database has gone away. Switched on, it listens on the same port again.
Frozen, it keeps every connection open and accepts new ones but passes nothing on, in either
direction: to the writer, the database hangs (a stopped or wedged server whose kernel still
holds the sockets), which a real server cannot be made to do from a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SwitchableProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = _free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.frozen = False

    async def switch_on(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def switch_off(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    def freeze(self) -> None:
        self.frozen = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.frozen:  # accepted, never answered
            self._writers.add(writer)
            swallow = asyncio.create_task(self._pipe(reader, writer))
            self._pipes.add(swallow)
            swallow.add_done_callback(self._pipes.discard)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, upstream_writer))
        pipes = [
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ]
        self._pipes.update(pipes)
        for pipe in pipes:
            pipe.add_done_callback(self._pipes.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.frozen:
                    continue
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            self._writers.discard(writer)
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
