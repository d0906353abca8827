"""The instance protocol (docs/protocol.md) and the operator actions on one instance."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from fingerv7.api.auth import Role, authorize
from fingerv7.api.schemas import (
    ActionResponse,
    AssignmentResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    RegisterRequest,
    RegisterResponse,
    StreamCommand,
    StreamOut,
)
from fingerv7.api.views import instance_view
from fingerv7.core.planning.model import InstanceState
from fingerv7.orchestrator.runtime import OrchestratorRuntime
from fingerv7.storage.fleet_store import DesiredStream, HeartbeatReport, Registration

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
async def register(body: RegisterRequest, request: Request) -> RegisterResponse:
    """Register an instance, or update it (idempotent: its streams are kept)."""
    runtime = runtime_of(request)
    authorize(runtime.settings, request, Role.INSTANCE)
    now = datetime.now(UTC)
    row = await runtime.store.register(
        Registration(
            instance_id=body.instance_id,
            max_streams=body.max_streams,
            capabilities=body.capabilities,
            version=body.version,
            location=body.location,
        ),
        now,
    )
    log.info(
        "[INSTANCE] registration: %s (max_streams=%d, version=%s, location=%s)",
        body.instance_id,
        body.max_streams,
        body.version,
        body.location,
    )
    runtime.controller.wake()
    desired = await runtime.store.desired_streams(body.instance_id)
    assigned = len(desired.streams) if desired else 0
    interval_s = runtime.settings.heartbeat_interval
    return RegisterResponse(
        instance_id=body.instance_id,
        assigned_streams=assigned,
        heartbeat_interval=interval_s,
        next_assignment_check=now + timedelta(seconds=interval_s),
        generation=int(row["generation"]),
    )


@router.post("/heartbeat", response_model=HeartbeatResponse, tags=["instances"])
async def heartbeat(body: HeartbeatRequest, request: Request) -> HeartbeatResponse:
    """Record what the instance runs; answer its complete desired set (and the diff as commands)."""
    started = time.perf_counter()
    runtime = runtime_of(request)
    authorize(runtime.settings, request, Role.INSTANCE)
    now = datetime.now(UTC)
    report = HeartbeatReport(
        instance_id=body.instance_id,
        stopping=body.status == "stopping",
        stream_ids=body.stream_ids,
        applied_generation=body.generation,
        stats=body.stats(),
    )
    # Read before writing: the answer and the "did anything change" test both need the last report.
    desired = await runtime.store.desired_streams(body.instance_id)
    if desired is None or not await runtime.store.record_heartbeat(report, now):
        raise _not_registered(body.instance_id)
    runtime.metrics.totals.heartbeats += 1
    # --- issue 11: stream health. Keep this one call when rewriting the handler. ---
    await runtime.stream_health.record(
        body.instance_id, body.stream_health, body.worker_health, now
    )
    wanted, running = desired.ids, set(body.stream_ids)
    if report.stopping:
        log.info("[INSTANCE] %s is stopping: its streams go to other instances", body.instance_id)
        wanted = set()
    elif running - wanted:
        await _note_discrepancies(runtime, body.instance_id, running - wanted)
    steady = (
        not report.stopping
        and running == desired.reported
        and body.generation == desired.applied_generation
        and desired.state is InstanceState.ACTIVE
    )
    if not steady:
        runtime.controller.wake()  # a release, a recovery, a first beat: act on it now
    commands = [StreamCommand(stream_id=s, action="add") for s in sorted(wanted - running)]
    commands += [StreamCommand(stream_id=s, action="remove") for s in sorted(running - wanted)]
    runtime.metrics.heartbeat_latency.observe(time.perf_counter() - started)
    return HeartbeatResponse(
        next_heartbeat=now + timedelta(seconds=runtime.settings.heartbeat_interval),
        generation=desired.generation,
        streams=[] if report.stopping else _streams_out(desired.streams),
        commands=commands,
    )


async def _note_discrepancies(
    runtime: OrchestratorRuntime, instance_id: str, stream_ids: set[int]
) -> None:
    """Streams an instance runs that it does not hold: logged and counted, then told to stop."""
    strays = await runtime.store.streams_held_by_others(instance_id, stream_ids)
    if strays:
        runtime.metrics.totals.discrepancies += len(strays)
        runtime.metrics.discrepancies.inc(len(strays))
        log.warning(
            "[STREAM] %s runs %d streams it does not own (%s); told to stop them",
            instance_id,
            len(strays),
            ", ".join(map(str, strays[:10])),
        )


@router.get(
    "/instances/{instance_id}/assignment", response_model=AssignmentResponse, tags=["instances"]
)
async def assignment(
    instance_id: str,
    request: Request,
    after_generation: Annotated[int, Query(ge=0)] = 0,
    wait: Annotated[float, Query(ge=0, le=MAX_LONG_POLL_S)] = 25.0,
) -> AssignmentResponse:
    """Long-poll: answer once the instance's generation exceeds `after_generation`, or at `wait`."""
    runtime = runtime_of(request)
    authorize(runtime.settings, request, Role.INSTANCE)
    generation = await runtime.watch.wait_for(instance_id, after_generation, wait)
    desired = await runtime.store.desired_streams(instance_id)
    if generation is None or desired is None:
        raise _not_registered(instance_id)
    return AssignmentResponse(
        instance_id=instance_id,
        generation=desired.generation,
        streams=_streams_out(desired.streams),
    )


@router.get("/instances/{instance_id}", tags=["instances"])
async def get_instance(instance_id: str, request: Request) -> dict[str, object]:
    """One instance, with the streams it owns."""
    runtime = runtime_of(request)
    authorize(runtime.settings, request, Role.READER)
    row = await runtime.store.instance(instance_id)
    desired = await runtime.store.desired_streams(instance_id)
    if row is None or desired is None:
        raise _not_registered(instance_id)
    view = instance_view(row, len(desired.streams))
    view["generation"] = desired.generation
    view["streams"] = [s.model_dump() for s in _streams_out(desired.streams)]
    return view


@router.post("/instances/{instance_id}/drain", response_model=ActionResponse, tags=["operators"])
async def drain(instance_id: str, request: Request) -> ActionResponse:
    """Stop giving the instance streams and move its streams away (safely)."""
    return await _set_draining(instance_id, request, draining=True)


@router.delete("/instances/{instance_id}/drain", response_model=ActionResponse, tags=["operators"])
async def undrain(instance_id: str, request: Request) -> ActionResponse:
    """Let a drained instance take streams again."""
    return await _set_draining(instance_id, request, draining=False)


async def _set_draining(instance_id: str, request: Request, *, draining: bool) -> ActionResponse:
    runtime = runtime_of(request)
    authorize(runtime.settings, request, Role.ADMIN)
    if not await runtime.store.set_draining(instance_id, draining):
        raise _not_registered(instance_id)
    runtime.controller.wake()
    word = "draining" if draining else "accepting streams again"
    log.info("[INSTANCE] %s is %s (operator)", instance_id, word)
    return ActionResponse(
        status="draining" if draining else "active", detail=f"{instance_id} is {word}"
    )


@router.delete("/instances/{instance_id}", response_model=ActionResponse, tags=["operators"])
async def deregister(instance_id: str, request: Request) -> ActionResponse:
    """Forget the instance now; its streams go to others at once."""
    runtime = runtime_of(request)
    authorize(runtime.settings, request, Role.ADMIN)
    if not await runtime.store.deregister(instance_id):
        raise _not_registered(instance_id)
    runtime.controller.wake()
    log.info("[INSTANCE] %s deregistered (operator)", instance_id)
    return ActionResponse(status="removed", detail=f"{instance_id} deregistered")
