"""Request and response bodies: the manual's JSON shapes, validated at the edge.

The heartbeat's health parts are defined in `orchestrator/health_reports.py`, which keeps them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictInt, field_validator, model_validator

from fingerv7.core.credentials import INSTANCE_ID_PATTERN
from fingerv7.orchestrator.health_reports import RequestModel, StreamHealthIn, WorkerHealthIn

REQUIRED_CAPABILITY = "audio_fingerprinting"
# No instance may hold more than 1000 streams (max_streams), so no honest report lists more; the
# bound also caps what one heartbeat can add to the discrepancy counters.
MAX_REPORTED_STREAMS = 1_000
# What the databases store: a signed 64-bit integer (PostgreSQL BIGINT, SQLite INTEGER).
MAX_INT64 = 2**63 - 1

# Integers in JSON only: "5" and true are refused, not coerced; and they fit in a BIGINT.
Count = Annotated[StrictInt, Field(ge=0, le=MAX_INT64)]
StreamId = Annotated[StrictInt, Field(ge=0, le=MAX_INT64)]
# Free text stored as given: printable, no NUL or other control characters (PostgreSQL refuses
# NUL; a log line must not be forged with a newline).
Text64 = Annotated[str, Field(max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")]
Text128 = Annotated[str, Field(max_length=128, pattern=r"^[^\x00-\x1f\x7f]*$")]

InstanceIdField = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=INSTANCE_ID_PATTERN.pattern,
        description="1-64 characters: letters, digits, '.', '_' or '-'",
        examples=["fingerv7-001"],
    ),
]


class RegisterRequest(RequestModel):
    instance_id: InstanceIdField
    max_streams: Annotated[
        StrictInt,
        Field(
            gt=0,
            le=1000,
            description="1..1000, an integer; the orchestrator caps it at MAX_STREAMS_PER_INSTANCE",
        ),
    ]
    capabilities: Annotated[
        list[Text64],
        Field(
            max_length=32,
            description=f"must contain '{REQUIRED_CAPABILITY}'",
            json_schema_extra={"contains": {"const": REQUIRED_CAPABILITY}},
        ),
    ]
    version: Text64 | None = None
    location: Text128 | None = None
    status: Annotated[Text64, Field(max_length=32)] | None = None

    @field_validator("capabilities")
    @classmethod
    def _must_fingerprint(cls, capabilities: list[str]) -> list[str]:
        if REQUIRED_CAPABILITY not in capabilities:
            raise ValueError(
                f"capabilities must include '{REQUIRED_CAPABILITY}' (got {capabilities})"
            )
        return capabilities


class RegisterResponse(BaseModel):
    status: Literal["registered"] = "registered"
    instance_id: str
    assigned_streams: int
    heartbeat_interval: float
    next_assignment_check: datetime
    generation: int


class PlayLogIn(RequestModel):
    """The worker's plays not yet in music_log; optional, so older workers keep working."""

    plays_buffered: Count
    oldest_age_seconds: Annotated[float, Field(ge=0, le=10**9)]
    last_write_at: datetime | None = None  # the last play that reached music_log
    unavailable: bool = False  # music_log cannot be written now


class StreamHealthFields(RequestModel):
    """The heartbeat's stream-health part, kept apart from the protocol's original fields."""

    stream_health: (
        Annotated[list[StreamHealthIn], Field(max_length=MAX_REPORTED_STREAMS)] | None
    ) = None
    worker_health: WorkerHealthIn | None = None
    # The worker process's own share (cpu_usage / memory_usage are the whole host's).
    process_cpu_usage: Annotated[float, Field(ge=0, le=100_000)] | None = None
    process_memory_usage: Annotated[float, Field(ge=0, le=100)] | None = None
    play_log: PlayLogIn | None = None


class HeartbeatRequest(StreamHealthFields):
    instance_id: InstanceIdField
    timestamp: datetime | None = None
    status: Literal["active", "ready", "stopping"] = "active"
    current_streams: Count | None = None
    processed_count: Count = 0
    error_count: Count = 0
    cpu_usage: Annotated[float, Field(ge=0, le=100_000)] | None = None
    memory_usage: Annotated[float, Field(ge=0, le=100)] | None = None
    last_activity: datetime | None = None
    stream_ids: Annotated[list[StreamId], Field(max_length=MAX_REPORTED_STREAMS)] = Field(
        default_factory=list
    )
    generation: Count = 0

    @model_validator(mode="after")
    def _stopping_runs_nothing(self) -> HeartbeatRequest:
        if self.status == "stopping" and self.stream_ids:
            raise ValueError(
                "a 'stopping' heartbeat must report stream_ids: [] (stop every stream first)"
            )
        return self

    def stats(self) -> dict[str, Any]:
        """The metrics part of the heartbeat, stored as reported."""
        return self.model_dump(
            mode="json",
            include={
                "timestamp",
                "status",
                "current_streams",
                "processed_count",
                "error_count",
                "cpu_usage",
                "memory_usage",
                "process_cpu_usage",
                "process_memory_usage",
                "last_activity",
                "play_log",
            },
        )


class StreamOut(BaseModel):
    id: int
    url: str
    name: str
    metadata: dict[str, Any]


class StreamCommand(BaseModel):
    type: Literal["stream_update"] = "stream_update"
    stream_id: int
    action: Literal["add", "remove"]


class HeartbeatResponse(BaseModel):
    status: Literal["acknowledged"] = "acknowledged"
    next_heartbeat: datetime
    generation: int
    streams: list[StreamOut]
    commands: list[StreamCommand]


class AssignmentResponse(BaseModel):
    instance_id: str
    generation: int
    streams: list[StreamOut]


class ActionResponse(BaseModel):
    status: str
    detail: str
