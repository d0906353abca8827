"""The instance protocol (docs/protocol.md) and the operator actions on one instance."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from fingerv7.api.admission import AdmittedRegistration
from fingerv7.api.deps import InstanceCaller, InstanceIdPath, InstanceReader, Operator, OwnInstance
from fingerv7.api.responses import InstanceDetail
from fingerv7.api.schemas import (
    MAX_INT64,
    ActionResponse,
    AssignmentResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    RegisterResponse,
    StreamCommand,
    StreamOut,
)
from fingerv7.api.views import instance_view
from fingerv7.orchestrator.runtime import OrchestratorRuntime
from fingerv7.storage.fleet_rows import Registration
from fingerv7.storage.report_store import DesiredStream

log = logging.getLogger("fingerv7.orchestrator")
router = APIRouter()

MAX_LONG_POLL_S = 60.0


def runtime_of(request: Request) -> OrchestratorRuntime:
    runtime: OrchestratorRuntime = request.app.state.runtime
    return runtime


def _not_registered(instance_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"instance '{instance_id}' is not registered; POST /register first",
    )


def _streams_out(streams: list[DesiredStream]) -> list[StreamOut]:
    return [StreamOut(id=s.id, url=s.url, name=s.name, metadata=s.metadata) for s in streams]


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

    The hot path of the fleet: no database round trip. The answer comes from this process's
    assignment cache (rendered once per generation) and the report joins the next batch write.
    """
    started = time.perf_counter()
    runtime = runtime_of(request)
    caller.admit(body.instance_id)
    entry = await runtime.cache.get(body.instance_id)
    if entry is None:
        raise _not_registered(body.instance_id)
    stopping = body.status == "stopping"
    wanted, running = (set() if stopping else entry.stream_ids), set(body.stream_ids)
    steady = not stopping and running == entry.stream_ids and body.generation == entry.generation
    runtime.intake.record(
        body.instance_id,
        body.stream_ids,
        body.generation,
        body.stats(),
        stopping=stopping,
        urgent=not steady,  # a release, a recovery, a first beat: act on it now
    )
    runtime.metrics.totals.heartbeats += 1
    now = datetime.now(UTC)
    # Stream health: kept in memory, written only when a stream's episode changes.
    await runtime.stream_health.record(
        body.instance_id, body.stream_health, body.worker_health, now
    )
    if stopping:
        log.info("[INSTANCE] %s is stopping: its streams go to other instances", body.instance_id)
    await runtime.discrepancies.note(body.instance_id, () if stopping else running - wanted)
    next_heartbeat = now + timedelta(seconds=runtime.settings.heartbeat_interval)
    content = render_heartbeat_answer(
        entry.generation,
        b"[]" if stopping else entry.streams_json,
        sorted(wanted - running),
        sorted(running - wanted),
        next_heartbeat,
    )
    runtime.metrics.heartbeat_latency.observe(time.perf_counter() - started)
    return Response(content, media_type="application/json")


def render_heartbeat_answer(
    generation: int,
    streams_json: bytes,
    to_add: list[int],
    to_remove: list[int],
    next_heartbeat: datetime,
) -> bytes:
    """The HeartbeatResponse JSON, around the cached streams list (never re-serialised)."""
    commands = [StreamCommand(stream_id=s, action="add").model_dump() for s in to_add]
    commands += [StreamCommand(stream_id=s, action="remove").model_dump() for s in to_remove]
    head = {
        "status": "acknowledged",
        "next_heartbeat": next_heartbeat.isoformat().replace("+00:00", "Z"),
        "generation": generation,
    }
    return b"".join(
        (
            json.dumps(head, separators=(",", ":"))[:-1].encode(),
            b',"streams":',
            streams_json,
            b',"commands":',
            json.dumps(commands, separators=(",", ":")).encode(),
            b"}",
        )
    )


@router.get(
    "/instances/{instance_id}/assignment", response_model=AssignmentResponse, tags=["instances"]
)
async def assignment(
    instance_id: InstanceIdPath,
    request: Request,
    caller: OwnInstance,
    after_generation: Annotated[int, Query(ge=0, le=MAX_INT64)] = 0,
    wait: Annotated[float, Query(ge=0, le=MAX_LONG_POLL_S)] = 25.0,
) -> Response:
    """Long-poll: answer once the instance's generation exceeds `after_generation`, or at `wait`."""
    runtime = runtime_of(request)
    entry = await runtime.cache.wait_for(instance_id, after_generation, wait)
    if entry is None:
        raise _not_registered(instance_id)
    content = b"".join(
        (
            json.dumps({"instance_id": instance_id, "generation": entry.generation})[:-1].encode(),
            b',"streams":',
            entry.streams_json,
            b"}",
        )
    )
    return Response(content, media_type="application/json")


@router.get("/instances/{instance_id}", response_model=InstanceDetail, tags=["instances"])
async def get_instance(
    instance_id: InstanceIdPath, request: Request, caller: InstanceReader
) -> dict[str, object]:
    """One instance, with the streams it owns."""
    runtime = runtime_of(request)
    row = await runtime.store.instance(instance_id)
    entry = await runtime.cache.reload(instance_id)
    if row is None or entry is None:
        raise _not_registered(instance_id)
    view = instance_view(row, len(entry.stream_ids))
    view["generation"] = entry.generation
    view["streams"] = [s.model_dump() for s in _streams_out(entry.desired.streams)]
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
        raise _not_registered(instance_id)
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
        raise _not_registered(instance_id)
    runtime.controller.wake()
    log.info("[INSTANCE] %s deregistered (operator)", instance_id)
    return ActionResponse(status="removed", detail=f"{instance_id} deregistered")
