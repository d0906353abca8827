"""The protocol's two hot calls answered before FastAPI's routing, with the same rules.

At 2,000 instances heartbeats and long-polls are nearly all of the orchestrator's traffic, and
profiling (py-spy during bench_fleet.py and bench_intake.py) showed most of their CPU in
per-request framework work: routing, dependency resolution (the bearer scheme and two auth
dependencies, parameters, cookies) and the layers around them, not the handlers.

- `POST /heartbeat`: the body is parsed and validated as FastAPI does it, by the same Pydantic
  model; the key checked by the same function as the dependencies (`instance_caller_of`); the
  answer made by the same code as the route (`answer_heartbeat`); any error answered by the
  app's own exception handlers. A body not declared as JSON goes on to FastAPI.
- `GET /instances/{id}/assignment` (the long-poll): served here only when the id and the
  parameters are plainly well-formed and the key may act for the instance; anything else goes on
  to FastAPI, whose answer (422, 401, 403, 404) is then the route's own.

Clients see the same answers, byte for byte but for the clock
(tests/integration/orchestrator/test_fast_path.py). The routes in routes_instances.py stay the
contract in OpenAPI.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fingerv7.api.deps import instance_caller_of
from fingerv7.api.protocol_answers import (
    DEFAULT_LONG_POLL_WAIT_S,
    MAX_LONG_POLL_S,
    answer_heartbeat,
    render_assignment_answer,
)
from fingerv7.api.routes_instances import router as instance_routes
from fingerv7.api.schemas import MAX_INT64, HeartbeatRequest
from fingerv7.orchestrator.runtime import OrchestratorRuntime

HEARTBEAT = "/heartbeat"
ASSIGNMENT = "/instances/{instance_id}/assignment"
ASSIGNMENT_PATH = re.compile(r"/instances/([A-Za-z0-9._-]{1,64})/assignment")
# Parameters in their plain forms only; any other spelling is FastAPI's to judge.
PLAIN_INT = re.compile(r"[0-9]{1,19}")
PLAIN_FLOAT = re.compile(r"[0-9]{1,3}(\.[0-9]{1,6})?")
ErrorHandler = Callable[[Request, Any], Response | Awaitable[Response]]


class ProtocolFastPath:
    """Serves heartbeats and plain long-polls itself; passes every other request on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The routes these requests would have matched: the request metrics label by them.
        self._routes = {getattr(r, "path", None): r for r in instance_routes.routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["method"] == "POST" and scope["path"] == HEARTBEAT:
                if await self._heartbeat(scope, receive, send):
                    return
            elif scope["method"] == "GET" and (found := ASSIGNMENT_PATH.fullmatch(scope["path"])):
                if await self._long_poll(found.group(1), scope, receive, send):
                    return
        await self.app(scope, receive, send)

    async def _heartbeat(self, scope: Scope, receive: Receive, send: Send) -> bool:
        request = Request(scope, receive)
        if not _is_json(request.headers.get("content-type")):  # rare: FastAPI's exact answer
            return False
        app: FastAPI = scope["app"]
        scope["route"] = self._routes[HEARTBEAT]  # for the request metrics
        try:
            content = await _answer_heartbeat(app, request)
        except Exception as error:
            handler = _handler_for(app, error)
            if handler is None:
                raise
            answered = handler(request, error)
            response = await answered if inspect.isawaitable(answered) else answered
            await response(scope, receive, send)
            return True
        await _send_json(send, content)
        return True

    async def _long_poll(
        self, instance_id: str, scope: Scope, receive: Receive, send: Send
    ) -> bool:
        parameters = _long_poll_parameters(scope["query_string"])
        if parameters is None:
            return False
        app: FastAPI = scope["app"]
        runtime: OrchestratorRuntime = app.state.runtime
        request = Request(scope, receive)
        try:
            caller = instance_caller_of(runtime.settings, request.headers.get("authorization"))
        except HTTPException:
            return False
        if not caller.may_act_as(instance_id):
            return False
        after_generation, wait_s = parameters
        entry = await runtime.cache.wait_for(instance_id, after_generation, wait_s)
        if entry is None:  # not registered: the route's 404
            return False
        scope["route"] = self._routes[ASSIGNMENT]
        await _send_json(send, render_assignment_answer(instance_id, entry))
        return True


async def _send_json(send: Send, content: bytes) -> None:
    """A 200 with a JSON body, as two ASGI messages (what `Response` sends, without its object)."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(content))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": content})


async def _answer_heartbeat(app: FastAPI, request: Request) -> bytes:
    runtime: OrchestratorRuntime = app.state.runtime
    caller = instance_caller_of(runtime.settings, request.headers.get("authorization"))
    raw = await request.body()
    if not raw:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing])
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as error:
        raise RequestValidationError([_json_invalid(error)], body=raw) from None
    except ValueError:  # not text at all (bad UTF-8): FastAPI's answer
        raise HTTPException(400, "There was an error parsing the body") from None
    try:
        # As FastAPI does it (json.loads, then the model in Python mode): the same coercions
        # and the same messages as the route.
        body = HeartbeatRequest.model_validate(parsed, from_attributes=True)
    except ValidationError as error:
        raise RequestValidationError(_as_body_errors(error), body=raw) from None
    return await answer_heartbeat(runtime, caller, body)


def _long_poll_parameters(query_string: bytes) -> tuple[int, float] | None:
    """(after_generation, wait) when both are absent or plainly valid; None otherwise."""
    try:
        given = dict(parse_qsl(query_string.decode("ascii"), keep_blank_values=True))
    except UnicodeDecodeError:
        return None
    after, wait = given.get("after_generation", "0"), given.get("wait")
    if not PLAIN_INT.fullmatch(after) or int(after) > MAX_INT64:
        return None
    if wait is None:
        return int(after), DEFAULT_LONG_POLL_WAIT_S
    if not PLAIN_FLOAT.fullmatch(wait) or float(wait) > MAX_LONG_POLL_S:
        return None
    return int(after), float(wait)


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
