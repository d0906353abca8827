"""Every failure answers JSON `{"detail": "..."}` a person can act on; never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fingerv7.storage.errors import DatabaseBusy, DatabaseFailure, StorageError, ValueRefused

log = logging.getLogger("fingerv7.api")

MAX_BODY_BYTES = 1_048_576


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{location}: {message}" if location else message


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [_describe(e) for e in exc.errors()]
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={
            "detail": "invalid request: " + "; ".join(problems),
            "errors": [
                {"field": ".".join(map(str, e.get("loc", ()))), "message": _describe(e)}
                for e in exc.errors()
            ],
        },
    )


def _kind(exc: Exception) -> str:
    """The database layer's name for the failure (`OperationalError`), for the log line."""
    return exc.kind if isinstance(exc, StorageError) else type(exc).__name__


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "[ERROR] [DATABASE] %s %s failed: database unavailable (%s)",
        request.method,
        request.url.path,
        _kind(exc),
    )
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": "the orchestrator's database is unavailable; retry shortly"},
        headers={"Retry-After": "2"},
    )


async def database_busy(request: Request, exc: Exception) -> JSONResponse:
    """Every connection of the request pool is in use (a burst of registrations, say): the
    client should come back, as for an outage; the monitor has its own pool and goes on."""
    log.warning(
        "[DATABASE] %s %s: no free database connection; answered 503",
        request.method,
        request.url.path,
    )
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": "the orchestrator is busy; retry shortly"},
        headers={"Retry-After": "2"},
    )


async def data_refused(request: Request, exc: Exception) -> JSONResponse:
    """A value the database cannot store got past validation: the client's fault, not an outage."""
    log.warning(
        "[ERROR] [DATABASE] %s %s: a value was refused by the database (%s)",
        request.method,
        request.url.path,
        _kind(exc),
    )
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": "invalid request: a value is out of range", "errors": []},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    # The stores' own errors (storage/errors.py); no driver error reaches this layer.
    app.add_exception_handler(ValueRefused, data_refused)
    app.add_exception_handler(DatabaseFailure, database_unavailable)
    app.add_exception_handler(DatabaseBusy, database_busy)


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with 413 before they are read into memory.

    A declared Content-Length is checked up front; a streamed (chunked) body is counted as it
    arrives, and the HTTPException raised from `receive` reaches the app's handlers as a 413 (an
    ordinary exception would be reported by FastAPI as an unparsable body, 400).
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, self._detail)
            return message

        await self.app(scope, limited_receive, send)

    @property
    def _detail(self) -> str:
        return f"request body too large (limit {self.max_bytes} bytes)"

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            status_code=status.HTTP_413_CONTENT_TOO_LARGE, content={"detail": self._detail}
        )
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
