"""Stream health views (issue 11): `GET /streams/{id}` and the health parts of the fleet views.

The fleet views (`/streams/status`, `/health`, Prometheus, the dashboard) call the small
functions here, so the stream-health logic stays in one place next to the lead's handlers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, status

from fingerv7.api.deps import FleetReader
from fingerv7.api.responses import StreamDetail
from fingerv7.api.routes_instances import runtime_of
from fingerv7.api.schemas import MAX_INT64
from fingerv7.core.credentials import redact_urls
from fingerv7.core.stream_health import StreamHealth, count_states, problems_first
from fingerv7.orchestrator.runtime import OrchestratorRuntime
from fingerv7.orchestrator.stream_health import Ownership, instance_facts
from fingerv7.storage.fleet_rows import InstanceRow

router = APIRouter()

MAX_PROBLEM_STREAMS = 200


@router.get("/streams/{stream_id:int}", response_model=StreamDetail, tags=["fleet"])
async def get_stream(
    # What the databases can store (a larger id made SQLite raise, a 500).
    stream_id: Annotated[int, Path(ge=0, le=MAX_INT64)],
    request: Request,
    caller: FleetReader,
) -> dict[str, Any]:
    """One stream: who holds it and its health (`state` running / connecting / reconnecting /
    unassigned, `since`, and what the worker last said about it)."""
    runtime = runtime_of(request)
    ownership = await runtime.store.ownership(stream_id)
    if not ownership:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"stream {stream_id} is not monitored")
    rows = await runtime.store.instances()
    (health,) = await runtime.stream_health.judge_all(instance_facts(rows), ownership)
    names = await runtime.store.stream_names([stream_id])
    return {
        "id": stream_id,
        "name": names.get(stream_id, str(stream_id)),
        "instance_id": health.instance_id,
        "health": health.to_json(datetime.now(UTC)),
    }


async def status_section(
    runtime: OrchestratorRuntime, rows: list[InstanceRow], ownership: Ownership
) -> dict[str, Any]:
    """`/streams/status` additions: counts by state and the problem streams, longest down first."""
    now = datetime.now(UTC)
    healths = await runtime.stream_health.judge_all(instance_facts(rows), ownership)
    problems = [h for h in problems_first(healths, now) if h.down][:MAX_PROBLEM_STREAMS]
    names = await runtime.store.stream_names([h.stream_id for h in problems])
    worker_problems = await runtime.stream_health.problems()
    return {
        "health": count_states(healths),
        "problem_streams": [_problem(h, names, now) for h in problems],
        "instance_problems": {
            instance_id: {"processor": row.processor, "problems": row.problems}
            for instance_id, row in worker_problems.items()
        },
    }


def _problem(health: StreamHealth, names: dict[int, str], now: datetime) -> dict[str, Any]:
    return {"id": health.stream_id, "name": names.get(health.stream_id, str(health.stream_id))} | {
        "instance_id": health.instance_id,
        **health.to_json(now),
    }


async def health_section(
    runtime: OrchestratorRuntime, rows: list[InstanceRow], ownership: Ownership
) -> tuple[dict[str, int], list[str]]:
    """For `/health`: counts by state, and what degrades it (streams down too long, workers
    that cannot do their job)."""
    now = datetime.now(UTC)
    healths = await runtime.stream_health.judge_all(instance_facts(rows), ownership)
    degraded = []
    if runtime.stream_health.down_too_long(healths, now):
        degraded.append("streams_down")
    if await runtime.stream_health.problems():
        degraded.append("worker_problems")
    return count_states(healths), degraded


async def refresh_stream_gauges(
    runtime: OrchestratorRuntime, rows: list[InstanceRow], ownership: Ownership
) -> None:
    now = datetime.now(UTC)
    book, metrics = runtime.stream_health, runtime.metrics
    healths = await book.judge_all(instance_facts(rows), ownership)
    for state, count in count_states(healths).items():
        metrics.stream_health.labels(state).set(count)
    metrics.streams_down_too_long.set(len(book.down_too_long(healths, now)))
    metrics.streams_silent_too_long.set(len(book.silent_too_long(healths, now)))
    metrics.instances_with_problems.set(len(await book.problems()))
    metrics.monitor_failing.set(1 if runtime.controller.last_tick_error else 0)


def monitor_section(runtime: OrchestratorRuntime) -> tuple[dict[str, Any], list[str]]:
    """For `/health`: the monitor loop's state; a failing tick degrades the orchestrator."""
    error = runtime.controller.last_tick_error
    section = {
        "leader": runtime.controller.is_leader,
        "ticks": runtime.controller.ticks,
        "last_tick_error": redact_urls(error)[:300] if error else None,
    }
    return section, ["monitor"] if error else []
