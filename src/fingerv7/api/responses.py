"""Response bodies of the read views and errors: declared so that `/docs` is the contract.

Models allow extra keys (views may grow); every key listed here is always present unless marked
optional. Request bodies and the protocol's answers live in `api/schemas.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fingerv7.api.schemas import StreamOut


class View(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorResponse(View):
    detail: str


class FieldError(View):
    field: str
    message: str


class ValidationErrorResponse(ErrorResponse):
    errors: list[FieldError]


class PlayLogView(View):
    """The instance's plays not yet in music_log, as of its last heartbeat."""

    plays_buffered: int
    oldest_age_seconds: float
    last_write_at: datetime | None = None
    unavailable: bool = False


class InstanceView(View):
    id: str
    status: str
    draining: bool
    registered_at: datetime
    last_heartbeat: datetime
    max_streams: int
    current_streams: int
    running_streams: int
    load_percentage: float
    processed_total: int
    errors_total: int
    cpu_usage: float | None
    memory_usage: float | None
    performance_score: float
    location: str | None
    version: str | None
    capabilities: list[str]
    play_log: PlayLogView | None = Field(
        default=None, description="plays buffered by the worker; null if it logs none (or is old)"
    )


class InstanceDetail(InstanceView):
    generation: int
    streams: list[StreamOut]


class FleetSummary(View):
    total_instances: int
    total_capacity: int
    total_assigned: int
    average_load: float
    system_imbalance: float


class InstancesResponse(View):
    instances: list[InstanceView]
    summary: FleetSummary


class StreamTotals(View):
    total: int
    active: int
    inactive: int
    assigned: int
    in_handoff: int
    unassigned: int


class DistributionEntry(View):
    instance_id: str
    assigned_streams: int
    stream_ids: list[int]
    last_updated: datetime


class ChangeEntry(View):
    timestamp: datetime
    action: Literal["assign", "unassign", "move"]
    details: str
    reason: str
    stream_ids: list[int]


class StreamsStatusResponse(View):
    streams: StreamTotals
    unassigned_stream_ids: list[int]
    distribution: list[DistributionEntry]
    recent_changes: list[ChangeEntry]


class IdentificationsResponse(View):
    available: bool
    identifications: list[dict[str, Any]]


class ServiceHealth(View):
    status: Literal["healthy", "unhealthy"]
    response_time: str | None = None
    error: str | None = None
    backend: str | None = None
    last_sync: str | None = None


class CredentialsInfo(View):
    mode: Literal["per_instance", "shared_key", "open"]
    warning: str | None = None


class HealthResponse(View):
    status: Literal["healthy", "degraded", "unhealthy"]
    timestamp: datetime
    uptime: str
    version: str
    services: dict[str, ServiceHealth]
    leader: bool
    credentials: CredentialsInfo
    instances: dict[str, int] | None = None
    # Totals (total, active, ..., processing) and `health`: streams by health state.
    streams: dict[str, int | dict[str, int]] | None = None
    degraded: list[str] | None = None


class SystemMetrics(View):
    uptime_seconds: int
    total_requests: int
    requests_per_second: float
    average_response_time: str
    error_rate: float


class StreamMetrics(View):
    total_streams_processed: int
    total_errors: int
    success_rate: float


class InstanceMetrics(View):
    total_heartbeats: int
    discrepancies: int
    average_instance_load: float


class RebalancingMetrics(View):
    total_rebalances: int
    automatic_rebalances: int
    manual_rebalances: int
    generation: int


class MetricsResponse(View):
    system_metrics: SystemMetrics
    stream_metrics: StreamMetrics
    instance_metrics: InstanceMetrics
    rebalancing_metrics: RebalancingMetrics


class StreamHealthView(View):
    state: str = Field(description="running, connecting, reconnecting or unassigned")
    since: datetime | None = None


class StreamDetail(View):
    """`GET /streams/{id}`: who holds the stream and its health."""

    id: int
    name: str
    instance_id: str | None
    health: StreamHealthView
