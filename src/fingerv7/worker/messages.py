"""The worker's side of docs/protocol.md: what it sends and what it reads back.

Answers are parsed leniently (unknown fields ignored) so an orchestrator may add fields without
breaking older workers; the fields the worker acts on are required.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fingerv7.processing import AssignedStream
from fingerv7.worker.stream_health import PlayLogReport, StreamHealthReport, WorkerHealthReport

REQUIRED_CAPABILITY = "audio_fingerprinting"


class RegisterRequest(BaseModel):
    instance_id: str
    max_streams: int
    capabilities: list[str] = Field(
        default_factory=lambda: [REQUIRED_CAPABILITY, "metadata_extraction"]
    )
    version: str
    location: str | None = None
    status: Literal["ready"] = "ready"


InstanceStatus = Literal["active", "ready", "stopping"]


class HeartbeatRequest(BaseModel):
    instance_id: str
    timestamp: datetime
    status: InstanceStatus
    current_streams: int
    processed_count: int
    error_count: int
    cpu_usage: float
    memory_usage: float
    last_activity: datetime | None
    stream_ids: list[int]
    generation: int
    stream_health: list[StreamHealthReport] | None = None  # issue 11; ignored by old orchestrators
    process_cpu_usage: float | None = None  # this worker process (100 = one core)
    process_memory_usage: float | None = None  # its resident memory, % of the host's
    worker_health: WorkerHealthReport | None = None
    play_log: PlayLogReport | None = None  # plays not yet in music_log (fingerprint processor)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RegisterAnswer(_Answer):
    status: str
    instance_id: str
    heartbeat_interval: float | None = None
    generation: int = 0


class StreamEntry(_Answer):
    id: int
    url: str
    name: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    def to_assigned(self) -> AssignedStream:
        return AssignedStream(
            id=self.id, url=self.url, name=self.name or str(self.id), metadata=self.metadata
        )


class Command(_Answer):
    type: str
    stream_id: int | None = None
    action: str | None = None


class HeartbeatAnswer(_Answer):
    status: str = "acknowledged"
    generation: int
    streams: list[StreamEntry]
    commands: list[Command] = Field(default_factory=list)


class AssignmentAnswer(_Answer):
    instance_id: str
    generation: int
    streams: list[StreamEntry]


def utc_now() -> datetime:
    return datetime.now(UTC)
