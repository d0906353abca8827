"""The worker's own HTTP endpoint: `/health`, `/metrics`, `/metrics/prometheus`, in its loop.

A small Starlette app under uvicorn, bound to a socket we open ourselves so that port 0 works
(the kernel picks a free port; we log it). uvicorn's own signal handling is switched off: the
worker's runtime owns SIGTERM/SIGINT. It listens on loopback unless WORKER_HTTP_KEY is set; with a
key, `/metrics*` need `Authorization: Bearer <key>` while `/health` stays open for probes (it
shows no stream URL or credential). Headers are limited as on the orchestrator (431).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fingerv7.core.credentials import key_matches
from fingerv7.http_limits import HeaderLimitedHttpTools
from fingerv7.worker.prometheus import exposition
from fingerv7.worker.status import StatusReporter

logger = logging.getLogger("fingerv7.worker.http")


def _refusal(request: Request, key: SecretStr | None) -> Response | None:
    """401/403 unless the request carries the key (when one is configured)."""
    if key is None:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return JSONResponse(
            {"detail": "missing credentials: send 'Authorization: Bearer <WORKER_HTTP_KEY>'"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not key_matches(token.strip(), key.get_secret_value()):
        return JSONResponse({"detail": "this key is not WORKER_HTTP_KEY"}, status_code=403)
    return None


def create_status_app(reporter: StatusReporter, key: SecretStr | None = None) -> Starlette:
    async def health(request: Request) -> JSONResponse:
        document, status_code = reporter.health()
        return JSONResponse(document, status_code=status_code)

    async def metrics(request: Request) -> Response:
        return _refusal(request, key) or JSONResponse(reporter.metrics())

    async def metrics_prometheus(request: Request) -> Response:
        return _refusal(request, key) or Response(
            exposition(reporter), media_type=CONTENT_TYPE_LATEST
        )

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/metrics", metrics),
            Route("/metrics/prometheus", metrics_prometheus),
        ]
    )


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WorkerHttpServer:
    """Serves the status app on `host:port` until :meth:`stop`."""

    def __init__(
        self, reporter: StatusReporter, host: str, port: int, key: SecretStr | None = None
    ) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self._app = create_status_app(reporter, key)
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Bind and start serving; returns the port (the chosen one when asked for 0)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise OSError(
                f"cannot listen on {self.host}:{self.requested_port} ({exc.strerror}); set "
                "WORKER_HTTP_PORT to a free port, or to 0 to let the system pick one"
            ) from exc
        sock.listen(64)
        sock.setblocking(False)
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self._app,
            log_config=None,
            access_log=False,
            lifespan="off",
            log_level="warning",
            http=HeaderLimitedHttpTools,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="worker-http")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # re-raise why it failed
            await asyncio.sleep(0.01)
        logger.info("[WORKER] health and metrics on http://%s:%d", self._display_host(), self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def _display_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
