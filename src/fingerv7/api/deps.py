"""Who may call what, declared as FastAPI dependencies (the bearer scheme shows in OpenAPI).

Keys, in order of power:
- `ORCHESTRATOR_ADMIN_KEY`: everything, operator actions included.
- A per-instance key (`fingerv7 instance-key X`, when ORCHESTRATOR_INSTANCE_SECRET is set):
  the protocol calls and the reads of instance X only. The key names X (`X.<HMAC>`), so it is
  checked without a lookup; a call naming another id gets 403 and changes nothing.
- `ORCHESTRATOR_API_KEY`: fleet-wide reads. Without an instance secret it is also the shared key
  of every instance (the old mode, in which any instance can act as any other).
With no key at all the API is open (the CLI refuses to listen beyond loopback unless --insecure).
Keys are compared in constant time.

The dependencies are `async def` although they do no I/O: FastAPI runs a plain `def`
dependency in its thread pool, two thread hops per heartbeat that cost more than the handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import SecretStr

from fingerv7.core.credentials import INSTANCE_ID_PATTERN, instance_of_key, key_matches
from fingerv7.orchestrator.settings import OrchestratorSettings

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description=(
        "An instance's own key (`fingerv7 instance-key ID`), ORCHESTRATOR_API_KEY (reads; and "
        "every instance in shared-key mode) or ORCHESTRATOR_ADMIN_KEY (everything)."
    ),
)


class Role(Enum):
    ADMIN = "admin"
    INSTANCE = "instance"  # a per-instance key: `instance_id` says which
    SHARED = "shared"  # ORCHESTRATOR_API_KEY
    OPEN = "open"  # no key configured at all


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one request."""

    role: Role
    instance_id: str | None = None
    shared_key_acts_as_instance: bool = False

    def may_act_as(self, instance_id: str) -> bool:
        if self.role is Role.INSTANCE:
            return self.instance_id == instance_id
        return self.role is not Role.SHARED or self.shared_key_acts_as_instance

    def admit(self, instance_id: str) -> None:
        """Raise 403 unless this caller may speak for `instance_id` (before anything changes)."""
        if self.may_act_as(instance_id):
            return
        if self.role is Role.SHARED:
            detail = (
                "this orchestrator uses per-instance keys: ORCHESTRATOR_API_KEY only reads; "
                "send the key of this instance (`fingerv7 instance-key ID`)"
            )
        else:
            detail = f"this key belongs to another instance; it cannot act as '{instance_id}'"
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail)


def settings_of(request: Request) -> OrchestratorSettings:
    settings: OrchestratorSettings = request.app.state.settings
    return settings


def _unauthenticated() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "missing credentials: send 'Authorization: Bearer <key>'",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _matches(presented: str, configured: SecretStr | None) -> bool:
    return configured is not None and key_matches(presented, configured.get_secret_value())


def identify(settings: OrchestratorSettings, presented: str | None) -> Caller:
    """The caller a bearer key stands for; 401 without a key, 403 for an unknown one."""
    if not settings.auth_enabled:
        return Caller(Role.OPEN)
    if presented is None:
        raise _unauthenticated()
    if _matches(presented, settings.orchestrator_admin_key):
        return Caller(Role.ADMIN)
    secret = settings.orchestrator_instance_secret
    if _matches(presented, settings.orchestrator_api_key):
        return Caller(Role.SHARED, shared_key_acts_as_instance=secret is None)
    if secret is not None:
        instance_id = instance_of_key(secret.get_secret_value(), presented)
        if instance_id is not None:
            return Caller(Role.INSTANCE, instance_id=instance_id)
    raise HTTPException(
        status.HTTP_403_FORBIDDEN,
        "this key is not valid on this orchestrator: a worker's ORCHESTRATOR_API_KEY must be "
        "its own key (`fingerv7 instance-key ID`) or the orchestrator's shared key",
    )


async def any_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Caller:
    """Any valid key (or none on an open orchestrator)."""
    presented = credentials.credentials.strip() if credentials is not None else None
    return identify(settings_of(request), presented or None)


AnyCaller = Annotated[Caller, Depends(any_caller)]


async def instance_caller(caller: AnyCaller) -> Caller:
    """A caller that may make protocol calls; the handler still checks the body's id."""
    return _may_make_protocol_calls(caller)


def _may_make_protocol_calls(caller: Caller) -> Caller:
    if caller.role is Role.SHARED and not caller.shared_key_acts_as_instance:
        caller.admit("")  # raises the explanatory 403
    return caller


def instance_caller_of(settings: OrchestratorSettings, authorization: str | None) -> Caller:
    """`instance_caller` from the raw Authorization header, for a route served outside
    FastAPI's dependency resolution (the heartbeat's fast path); the same rules and errors."""
    scheme, key = get_authorization_scheme_param(authorization)
    presented = key.strip() if scheme.lower() == "bearer" else ""
    return _may_make_protocol_calls(identify(settings, presented or None))


async def fleet_reader(caller: AnyCaller) -> Caller:
    """Fleet-wide reads: any key but a per-instance one, which sees its own instance only."""
    if caller.role is Role.INSTANCE:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "an instance key reads its own instance only: use ORCHESTRATOR_API_KEY or "
            "ORCHESTRATOR_ADMIN_KEY for fleet-wide views",
        )
    return caller


async def operator(request: Request, caller: AnyCaller) -> Caller:
    """Operator actions: ORCHESTRATOR_ADMIN_KEY (or an open orchestrator)."""
    if caller.role in (Role.ADMIN, Role.OPEN):
        return caller
    if settings_of(request).orchestrator_admin_key is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "operator actions are disabled: set ORCHESTRATOR_ADMIN_KEY on the orchestrator",
        )
    raise HTTPException(
        status.HTTP_403_FORBIDDEN,
        "this key is not allowed here: this call needs ORCHESTRATOR_ADMIN_KEY",
    )


InstanceIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=INSTANCE_ID_PATTERN.pattern,
        description="1-64 characters: letters, digits, '.', '_' or '-'",
    ),
]


async def own_instance(
    instance_id: InstanceIdPath, caller: Annotated[Caller, Depends(instance_caller)]
) -> Caller:
    """Protocol calls on `/instances/{instance_id}/...`: only that instance's key (or shared)."""
    caller.admit(instance_id)
    return caller


async def instance_reader(instance_id: InstanceIdPath, caller: AnyCaller) -> Caller:
    """Reading one instance: fleet readers, or that instance itself."""
    if caller.role is Role.INSTANCE:
        caller.admit(instance_id)
    return caller


InstanceCaller = Annotated[Caller, Depends(instance_caller)]
OwnInstance = Annotated[Caller, Depends(own_instance)]
InstanceReader = Annotated[Caller, Depends(instance_reader)]
FleetReader = Annotated[Caller, Depends(fleet_reader)]
Operator = Annotated[Caller, Depends(operator)]
