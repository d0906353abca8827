"""Fleet-wide views (`/instances`, `/streams/status`, `/health`, `/metrics`) and `/rebalance`."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import psutil
from fastapi import APIRouter, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from fingerv7 import __version__
from fingerv7.api.deps import FleetReader, Operator
from fingerv7.api.responses import (
    HealthResponse,
    IdentificationsResponse,
    InstancesResponse,
    MetricsResponse,
    StreamsStatusResponse,
)
from fingerv7.api.routes_instances import runtime_of
from fingerv7.api.routes_streams import (
    health_section,
    monitor_section,
    refresh_stream_gauges,
    status_section,
)
from fingerv7.api.schemas import ActionResponse
from fingerv7.api.views import (
    distribution,
    fleet_summary,
    instance_view,
    recent_changes,
    running_stream_ids,
    state_counts,
    stream_totals,
)
from fingerv7.core.durations import format_uptime
from fingerv7.orchestrator.runtime import OrchestratorRuntime
from fingerv7.orchestrator.settings import OrchestratorSettings
from fingerv7.storage.database import create_engine, ping
from fingerv7.storage.errors import DatabaseFailure
from fingerv7.storage.recent_plays import recent_plays

log = logging.getLogger("fingerv7.orchestrator")
router = APIRouter()

HEALTH_PING_TIMEOUT_S = 2.0
HEALTH_CACHE_S = 1.0


@router.get("/instances", response_model=InstancesResponse, tags=["fleet"])
async def list_instances(request: Request, caller: FleetReader) -> dict[str, Any]:
    runtime = runtime_of(request)
    rows = await runtime.store.instances()
    counts = await runtime.store.assignment_counts()
    return {
        "instances": [instance_view(r, counts.get(r.id, 0)) for r in rows],
        "summary": fleet_summary(rows, counts),
    }


@router.get("/streams/status", response_model=StreamsStatusResponse, tags=["fleet"])
async def streams_status(request: Request, caller: FleetReader) -> dict[str, Any]:
    runtime = runtime_of(request)
    rows = await runtime.store.instances()
    ownership = await runtime.store.ownership()
    running = running_stream_ids(rows)
    changes = await runtime.store.recent_changes(limit=200)
    return {
        "streams": stream_totals(ownership, running),
        "unassigned_stream_ids": [s for s, target, _ in ownership if target is None],
        "distribution": distribution(ownership, rows),
        "recent_changes": recent_changes(changes),
        "time_zone": runtime.settings.tz,  # the dashboard shows every time in this zone
    } | await status_section(runtime, rows, ownership)  # issue 11: stream health


@router.get("/identifications/recent", response_model=IdentificationsResponse, tags=["fleet"])
async def recent_identifications(
    request: Request, caller: FleetReader, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    """The newest plays in `music_log` (MUSIC_LOG_TABLE), where the workers log them."""
    runtime = runtime_of(request)
    engine = music_log_engine(request.app, runtime)
    table_name = runtime.settings.music_log_table
    try:
        plays = await recent_plays(engine, table_name, limit)
    except DatabaseFailure:
        log.warning("[ERROR] [DATABASE] cannot read %s for recent identifications", table_name)
        return {"available": False, "identifications": [], "time_zone": runtime.settings.tz}
    # music_log's date and time are wall-clock time in the workers' TZ (the same TZ here).
    return {
        "available": plays is not None,
        "identifications": plays or [],
        "time_zone": runtime.settings.tz,
    }


def music_log_engine(app: Any, runtime: OrchestratorRuntime) -> AsyncEngine:
    """MUSIC_LOG_DATABASE_URL's engine (made once, disposed by the app), else the streams
    database's, where the workers' POSTGRES_* usually point."""
    url = runtime.settings.music_log_database_url
    if url is None:
        return runtime.source_engine or runtime.engine
    engine: AsyncEngine | None = getattr(app.state, "music_log_engine", None)
    if engine is None:
        engine = create_engine(url.get_secret_value(), pool_size=1)
        app.state.music_log_engine = engine
    return engine


@router.post("/rebalance", response_model=ActionResponse, tags=["operators"])
async def rebalance(request: Request, caller: Operator) -> ActionResponse:
    """Ask for a rebalance now (ignores threshold and cooldown); done by the next monitor tick."""
    runtime = runtime_of(request)
    await runtime.store.request_rebalance(datetime.now(UTC))
    runtime.controller.wake()
    log.info("[BALANCE] manual rebalance requested")
    return ActionResponse(status="accepted", detail="rebalance requested; see /streams/status")


async def _timed(check: Any, observe: Any = None) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout=HEALTH_PING_TIMEOUT_S)
    except Exception as error:
        return {"status": "unhealthy", "error": type(error).__name__}
    elapsed_s = time.perf_counter() - started
    if observe is not None:
        observe(elapsed_s)  # fingerv7_database_latency_seconds
    return {"status": "healthy", "response_time": f"{elapsed_s * 1000:.0f}ms"}


async def _services(runtime: OrchestratorRuntime) -> dict[str, Any]:
    """Dependency checks, reused for HEALTH_CACHE_S: /health is public, and a burst of probes
    must not turn into a burst of connections to the databases."""
    cached_at, cached = runtime.health_cache
    if cached is not None and time.monotonic() - cached_at < HEALTH_CACHE_S:
        return copy.deepcopy(cached)
    latency = runtime.metrics.database_latency
    services: dict[str, Any] = {
        "postgresql_internal": await _timed(
            lambda: ping(runtime.engine), latency.labels("internal").observe
        ),
        "postgresql_external": await _timed(
            runtime.source.ping, latency.labels("external").observe
        ),
    }
    services["postgresql_internal"]["backend"] = runtime.engine.dialect.name
    if runtime.redis is not None:
        services["redis_internal"] = await _timed(runtime.redis.ping)
    runtime.health_cache = (time.monotonic(), copy.deepcopy(services))
    return services


@router.get(
    "/health",
    response_model=HealthResponse,
    response_model_exclude_none=True,
    responses={503: {"model": HealthResponse, "description": "internal database unreachable"}},
    tags=["fleet"],
)
async def health(request: Request) -> JSONResponse:
    """Public: status of the orchestrator and its dependencies. No secrets, no addresses."""
    runtime = runtime_of(request)
    services = await _services(runtime)
    body: dict[str, Any] = {
        "status": "healthy",
        "timestamp": datetime.now(UTC).isoformat(),
        "uptime": format_uptime((datetime.now(UTC) - runtime.started_at).total_seconds()),
        "version": __version__,
        "services": services,
        "leader": runtime.controller.is_leader,
        "credentials": credentials_report(runtime.settings),
    }
    if services["postgresql_internal"]["status"] != "healthy":
        body["status"] = "unhealthy"
        return JSONResponse(body, status_code=503)
    fleet = await runtime.store.fleet_row()
    services["postgresql_external"]["last_sync"] = fleet.source_status
    if fleet.source_status == "unhealthy":
        services["postgresql_external"]["status"] = "unhealthy"
    rows = await runtime.store.instances()
    ownership = await runtime.store.ownership()
    running = running_stream_ids(rows)
    totals = stream_totals(ownership, running)
    counts = state_counts(rows)
    body["instances"] = counts
    body["streams"] = totals | {"processing": len(running)}
    degraded = [name for name, s in services.items() if s["status"] != "healthy"]
    if totals["unassigned"]:
        degraded.append("unassigned_streams")
    body["streams"]["health"], streams_degraded = await health_section(runtime, rows, ownership)
    body["monitor"], monitor_degraded = monitor_section(runtime)
    degraded += streams_degraded + monitor_degraded
    if degraded:
        body["status"] = "degraded"
        body["degraded"] = degraded
    return JSONResponse(jsonable_encoder(body))


SHARED_KEY_WARNING = (
    "no ORCHESTRATOR_INSTANCE_SECRET: any instance can act as any other (shared key); "
    "see docs/security.md"
)


def credentials_report(settings: OrchestratorSettings) -> dict[str, str]:
    """How instances authenticate, for /health and the startup log (never a key)."""
    mode = settings.credentials_mode
    report: dict[str, str] = {"mode": mode}
    if mode == "shared_key":
        report["warning"] = SHARED_KEY_WARNING
    elif mode == "open":
        report["warning"] = "no keys configured: anyone who reaches the API can act as anything"
    return report


@router.get("/metrics", response_model=MetricsResponse, tags=["fleet"])
async def metrics_json(request: Request, caller: FleetReader) -> dict[str, Any]:
    """The manual's metrics JSON."""
    runtime = runtime_of(request)
    totals = runtime.metrics.totals
    uptime_s = time.monotonic() - totals.started_monotonic
    rows = await runtime.store.instances()
    counts = await runtime.store.assignment_counts()
    fleet = await runtime.store.fleet_row()
    processed = sum(int(r.stats.get("processed_count") or 0) for r in rows)
    errors = sum(int(r.stats.get("error_count") or 0) for r in rows)
    summary = fleet_summary(rows, counts)
    average_ms = 1000 * totals.response_time_s / max(1, totals.timed_requests)
    return {
        "system_metrics": {
            "uptime_seconds": round(uptime_s),
            "total_requests": totals.requests,
            "requests_per_second": round(totals.requests / uptime_s, 2) if uptime_s else 0.0,
            "average_response_time": f"{average_ms:.0f}ms",
            "error_rate": round(totals.errors / max(1, totals.requests), 4),
        },
        "stream_metrics": {
            "total_streams_processed": processed,
            "total_errors": errors,
            "success_rate": round(processed / (processed + errors), 4)
            if processed + errors
            else 1.0,
        },
        "instance_metrics": {
            "total_heartbeats": totals.heartbeats,
            "discrepancies": totals.discrepancies,
            "average_instance_load": round(summary["average_load"] / 100, 4),
        },
        "rebalancing_metrics": {
            "total_rebalances": fleet.rebalances_automatic + fleet.rebalances_manual,
            "automatic_rebalances": fleet.rebalances_automatic,
            "manual_rebalances": fleet.rebalances_manual,
            "generation": fleet.generation,
        },
    }


@router.get(
    "/metrics/prometheus",
    response_class=PlainTextResponse,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    tags=["fleet"],
)
async def metrics_prometheus(request: Request, caller: FleetReader) -> Response:
    """Prometheus exposition of the same facts plus histograms."""
    runtime = runtime_of(request)
    await refresh_fleet_gauges(runtime)
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def refresh_fleet_gauges(runtime: OrchestratorRuntime) -> None:
    m = runtime.metrics
    rows = await runtime.store.instances()
    counts = await runtime.store.assignment_counts()
    ownership = await runtime.store.ownership()
    running = running_stream_ids(rows)
    for state, count in state_counts(rows).items():
        if state != "total":
            m.instances.labels(state).set(count)
    summary = fleet_summary(rows, counts)
    m.capacity.set(summary["total_capacity"])
    m.imbalance.set(summary["system_imbalance"])
    for status, count in stream_totals(ownership, running).items():
        m.streams.labels(status).set(count)
    await refresh_stream_gauges(runtime, rows, ownership)
    m.set_play_logs({r.id: r.stats["play_log"] for r in rows if r.stats.get("play_log")})
    fleet = await runtime.store.fleet_row()
    m.external_database_up.set(1 if fleet.source_status == "healthy" else 0)
    m.memory_ratio.set(psutil.Process().memory_info().rss / psutil.virtual_memory().total)
