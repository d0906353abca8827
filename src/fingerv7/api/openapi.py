"""The OpenAPI document as the server behaves: every status a route can answer, with its body.

FastAPI documents what a route declares; the rest comes from layers around the routes (the
bearer dependency, the body and header limits, the database handler), so it is added here, by
rule, rather than repeated on every decorator.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from fingerv7.api.errors import MAX_BODY_BYTES
from fingerv7.api.responses import ErrorResponse, ValidationErrorResponse
from fingerv7.http_limits import MAX_HEADER_BYTES

_ERROR = {"$ref": "#/components/schemas/ErrorResponse"}
_STATUS_TEXT = {
    "400": "The body could not be decoded (not UTF-8 text)",
    "401": "Missing credentials: send `Authorization: Bearer <key>`",
    "403": "This key may not make this call (another instance's id, or an operator action)",
    "404": "Not found: the instance is not registered (POST /register first), or the stream "
    "is not monitored",
    "413": f"Request body over {MAX_BODY_BYTES} bytes (declared or streamed)",
    "422": "Invalid request: `detail` sums it up, `errors` lists each field",
    "429": "Too many new instances (REGISTRATION_RATE); see Retry-After",
    "431": f"Request headers over {MAX_HEADER_BYTES} bytes",
    "503": "The orchestrator's database is unavailable; see Retry-After",
}


def _error(code: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/ValidationErrorResponse"} if code == "422" else _ERROR
    return {"description": _STATUS_TEXT[code], "content": {"application/json": {"schema": schema}}}


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    codes = ["431"]
    if operation.get("security"):
        codes += ["401", "403", "503"]
    if operation.get("parameters") or operation.get("requestBody"):
        codes.append("422")
    if operation.get("requestBody"):
        codes.append("400")  # bytes that cannot be decoded at all (not UTF-8)
    if operation.get("requestBody") or method in ("post", "put", "patch"):
        codes.append("413")
    if "{instance_id}" in path or "{stream_id}" in path or path == "/heartbeat":
        codes.append("404")  # the instance is not registered (or no longer), no such stream
    if path == "/register":
        codes.append("429")
    return codes


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's schema with the statuses the surrounding layers produce."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorResponse, ValidationErrorResponse):
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(model_schema.pop("$defs", {}))
        components[model.__name__] = model_schema
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            for code in _statuses(path, method, operation):
                if code == "422" or code not in responses:
                    responses[code] = _error(code)
    app.openapi_schema = schema
    return schema
