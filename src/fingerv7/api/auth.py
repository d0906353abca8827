"""Bearer-key authorisation: instance calls, operator actions, and reads.

`ORCHESTRATOR_API_KEY` admits instances; `ORCHESTRATOR_ADMIN_KEY` admits operators (and may do
anything an instance may). Reads accept either. With no key configured the API is open, and the
CLI refuses to listen beyond loopback unless told `--insecure`. Keys are compared in constant time.
"""

from __future__ import annotations

import hmac
from enum import Enum

from fastapi import HTTPException, Request, status
from pydantic import SecretStr

from fingerv7.orchestrator.settings import OrchestratorSettings


class Role(Enum):
    INSTANCE = "instance"
    ADMIN = "admin"
    READER = "reader"


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _matches(presented: str, configured: SecretStr | None) -> bool:
    if configured is None:
        return False
    return hmac.compare_digest(presented.encode(), configured.get_secret_value().encode())


def authorize(settings: OrchestratorSettings, request: Request, role: Role) -> None:
    """Raise 401/403 unless the request's bearer key admits `role`."""
    if not settings.auth_enabled:
        return
    api_key, admin_key = settings.orchestrator_api_key, settings.orchestrator_admin_key
    if role is Role.ADMIN and admin_key is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "operator actions are disabled: set ORCHESTRATOR_ADMIN_KEY on the orchestrator",
        )
    presented = _presented_key(request)
    if presented is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing credentials: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    is_admin = _matches(presented, admin_key)
    allowed = is_admin or (role is not Role.ADMIN and _matches(presented, api_key))
    if not allowed:
        needed = "ORCHESTRATOR_ADMIN_KEY" if role is Role.ADMIN else "ORCHESTRATOR_API_KEY"
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"this key is not allowed here: this call needs {needed}"
        )
