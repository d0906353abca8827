"""Counts every request by method, route template and status (a plain ASGI middleware).

Pure ASGI rather than `@app.middleware("http")`: the latter copies each request through an extra
task and stream, which costs more than a whole heartbeat. A handler that raises is counted as the
500 it becomes, so the error-rate alert sees it. Long-polls wait on purpose, so they are left out
of the average response time.
"""

from __future__ import annotations

import time

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LONG_POLL_ROUTES = frozenset({"/instances/{instance_id}/assignment"})


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def observed_send(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            runtime = getattr(scope["app"].state, "runtime", None) if "app" in scope else None
            if runtime is not None:
                route = route_template(scope)
                runtime.metrics.observe_request(
                    scope["method"],
                    route,
                    status_code,
                    time.perf_counter() - started,
                    waits=route in LONG_POLL_ROUTES,
                )


def route_template(scope: Scope) -> str:
    """`/instances/{instance_id}` rather than one label per instance id, and one `unmatched` for
    every unknown path: clients must not be able to create label series at will."""
    route = scope.get("route")
    if isinstance(route, BaseRoute):
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
    return "unmatched"
