"""The instance protocol (docs/protocol.md) and the operator actions on one instance."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from fingerv7.api.admission import AdmittedRegistration
from fingerv7.api.deps import InstanceCaller, InstanceIdPath, InstanceReader, Operator, OwnInstance
from fingerv7.api.protocol_answers import (
    DEFAULT_LONG_POLL_WAIT_S,
    MAX_LONG_POLL_S,
    answer_heartbeat,
    not_registered,
    render_assignment_answer,
)
from fingerv7.api.responses import InstanceDetail
from fingerv7.api.schemas import (
    MAX_INT64,
    ActionResponse,
    AssignmentResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    RegisterResponse,
)
from fingerv7.api.views import instance_view
from fingerv7.orchestrator.runtime import OrchestratorRuntime
from fingerv7.storage.fleet_rows import Registration

log = logging.getLogger("fingerv7.orchestrator")
router = APIRouter()


def runtime_of(request: Request) -> OrchestratorRuntime:
    runtime: OrchestratorRuntime = request.app.state.runtime
    return runtime


@router.post("/register", response_model=RegisterResponse, tags=["instances"])
async def register(
    body: AdmittedRegistration, request: Request, caller: InstanceCaller
) -> RegisterResponse:
    """Register an instance, or update it (idempotent: its streams are kept)."""
    runtime = runtime_of(request)
    now = datetime.now(UTC)
    registered = await runtime.registrations.register(
        Registration(
            instance_id=body.instance_id,
            max_streams=body.max_streams,
            capabilities=body.capabilities,
            version=body.version,
            location=body.location,
        )
    )
    log.info(
        "[INSTANCE] registration: %s (max_streams=%d, version=%s, location=%s)",
        body.instance_id,
        body.max_streams,
        body.version,
        body.location,
    )
    runtime.controller.wake()
    entry = runtime.cache.accept(body.instance_id, registered.desired)
    interval_s = runtime.settings.heartbeat_interval
    return RegisterResponse(
        instance_id=body.instance_id,
        assigned_streams=len(entry.stream_ids),
        heartbeat_interval=interval_s,
        next_assignment_check=now + timedelta(seconds=interval_s),
        generation=entry.generation,
    )


@router.post("/heartbeat", response_model=HeartbeatResponse, tags=["instances"])
async def heartbeat(body: HeartbeatRequest, request: Request, caller: InstanceCaller) -> Response:
    """Record what the instance runs; answer its complete desired set (and the diff as commands).

    In a running orchestrator `ProtocolFastPath` answers this route before FastAPI's routing
    (same validation, keys and errors); this declaration is its contract in OpenAPI.
    """
    content = await answer_heartbeat(runtime_of(request), caller, body)
    return Response(content, media_type="application/json")


@router.get(
    "/instances/{instance_id}/assignment", response_model=AssignmentResponse, tags=["instances"]
)
async def assignment(
    instance_id: InstanceIdPath,
    request: Request,
    caller: OwnInstance,
    after_generation: Annotated[int, Query(ge=0, le=MAX_INT64)] = 0,
    wait: Annotated[float, Query(ge=0, le=MAX_LONG_POLL_S)] = DEFAULT_LONG_POLL_WAIT_S,
) -> Response:
    """Long-poll: answer once the instance's generation exceeds `after_generation`, or at `wait`.

    In a running orchestrator `ProtocolFastPath` serves well-formed, authorised long-polls before
    FastAPI's routing; anything else (a bad parameter, a refused key) comes here.
    """
    runtime = runtime_of(request)
    entry = await runtime.cache.wait_for(instance_id, after_generation, wait)
    if entry is None:
        raise not_registered(instance_id)
    return Response(render_assignment_answer(instance_id, entry), media_type="application/json")


@router.get("/instances/{instance_id}", response_model=InstanceDetail, tags=["instances"])
async def get_instance(
    instance_id: InstanceIdPath, request: Request, caller: InstanceReader
) -> dict[str, object]:
    """One instance, with the streams it owns."""
    runtime = runtime_of(request)
    row = await runtime.store.instance(instance_id)
    entry = await runtime.cache.reload(instance_id)
    if row is None or entry is None:
        raise not_registered(instance_id)
    view = instance_view(row, len(entry.stream_ids))
    view["generation"] = entry.generation
    view["streams"] = json.loads(entry.streams_json)
    return view


@router.post("/instances/{instance_id}/drain", response_model=ActionResponse, tags=["operators"])
async def drain(instance_id: InstanceIdPath, request: Request, caller: Operator) -> ActionResponse:
    """Stop giving the instance streams and move its streams away (safely)."""
    return await _set_draining(instance_id, request, draining=True)


@router.delete("/instances/{instance_id}/drain", response_model=ActionResponse, tags=["operators"])
async def undrain(
    instance_id: InstanceIdPath, request: Request, caller: Operator
) -> ActionResponse:
    """Let a drained instance take streams again."""
    return await _set_draining(instance_id, request, draining=False)


async def _set_draining(instance_id: str, request: Request, *, draining: bool) -> ActionResponse:
    runtime = runtime_of(request)
    if not await runtime.store.set_draining(instance_id, draining):
        raise not_registered(instance_id)
    runtime.controller.wake()
    word = "draining" if draining else "accepting streams again"
    log.info("[INSTANCE] %s is %s (operator)", instance_id, word)
    return ActionResponse(
        status="draining" if draining else "active", detail=f"{instance_id} is {word}"
    )


@router.delete("/instances/{instance_id}", response_model=ActionResponse, tags=["operators"])
async def deregister(
    instance_id: InstanceIdPath, request: Request, caller: Operator
) -> ActionResponse:
    """Forget the instance now; its streams go to others at once."""
    runtime = runtime_of(request)
    if not await runtime.store.deregister(instance_id):
        raise not_registered(instance_id)
    runtime.controller.wake()
    log.info("[INSTANCE] %s deregistered (operator)", instance_id)
    return ActionResponse(status="removed", detail=f"{instance_id} deregistered")
