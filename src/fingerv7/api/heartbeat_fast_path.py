"""POST /heartbeat answered before FastAPI's routing, with the same rules.

At 2,000 instances the heartbeat is nearly all of the orchestrator's traffic, and profiling
(py-spy --gil during bench_intake.py) showed most of its CPU in per-request framework work:
routing, dependency resolution (the bearer scheme and two auth dependencies) and the layers
around them. Here the body is parsed and validated as FastAPI does it, by the same Pydantic
model, the key checked by the same function as the dependencies
(`instance_caller_of`), the answer made by the same code as the route (`answer_heartbeat`), and
any error answered by the app's own exception handlers; a body that is not declared JSON goes
on to FastAPI. Clients see the same answers, byte for byte but for the clock
(tests/integration/orchestrator/test_heartbeat_fast_path.py). The route in routes_instances.py
stays the contract in OpenAPI.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from fingerv7.api.deps import instance_caller_of
from fingerv7.api.heartbeat import answer_heartbeat
from fingerv7.api.schemas import HeartbeatRequest
from fingerv7.orchestrator.runtime import OrchestratorRuntime

PATH = "/heartbeat"
ErrorHandler = Callable[[Request, Any], Response | Awaitable[Response]]


class HeartbeatFastPath:
    """Serves POST /heartbeat itself; passes every other request on to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route: BaseRoute | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        if not _is_json(request.headers.get("content-type")):  # rare: FastAPI's exact answer
            await self.app(scope, receive, send)
            return
        app: FastAPI = scope["app"]
        scope["route"] = self._route or self._find_route(app)  # for the request metrics
        try:
            response = await _answer(app, request)
        except Exception as error:
            handler = _handler_for(app, error)
            if handler is None:
                raise
            answered = handler(request, error)
            response = await answered if inspect.isawaitable(answered) else answered
        await response(scope, receive, send)

    def _find_route(self, app: FastAPI) -> BaseRoute | None:
        found = [r for r in app.routes if getattr(r, "path", None) == PATH]
        self._route = found[0] if found else None
        return self._route


async def _answer(app: FastAPI, request: Request) -> Response:
    runtime: OrchestratorRuntime = app.state.runtime
    caller = instance_caller_of(runtime.settings, request.headers.get("authorization"))
    raw = await request.body()
    if not raw:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing])
    try:
        # As FastAPI does it (json.loads, then the model in Python mode): the same coercions
        # and the same messages as the route.
        body = HeartbeatRequest.model_validate(json.loads(raw), from_attributes=True)
    except json.JSONDecodeError as error:
        raise RequestValidationError([_json_invalid(error)], body=raw) from None
    except ValidationError as error:
        raise RequestValidationError(_as_body_errors(error), body=raw) from None
    content = await answer_heartbeat(runtime, caller, body)
    return Response(content, media_type="application/json")


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _json_invalid(error: json.JSONDecodeError) -> dict[str, Any]:
    """FastAPI's own description of a body that is not JSON."""
    return {
        "type": "json_invalid",
        "loc": ("body", error.pos),
        "msg": "JSON decode error",
        "input": {},
        "ctx": {"error": error.msg},
    }


def _as_body_errors(error: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors located as FastAPI locates them (under `body`)."""
    return [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]


def _handler_for(app: FastAPI, error: Exception) -> ErrorHandler | None:
    """The app's handler for this exception, found the way Starlette finds it (by class)."""
    handlers: dict[Any, ErrorHandler] = app.exception_handlers
    for cls in type(error).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None
