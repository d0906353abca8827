"""What a heartbeat may say about its streams and its worker, as the orchestrator accepts it.

Defined below the API because the stream-health book keeps these reports as they came;
`api/schemas.py` embeds them in the heartbeat body, so the orchestrator never imports the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class RequestModel(BaseModel):
    """Every body the orchestrator accepts: unknown fields ignored, strings stripped."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class StreamHealthIn(RequestModel):
    """One stream as its worker sees it (issue 11); optional, so older workers keep working."""

    stream_id: Annotated[int, Field(ge=0)]
    state: Literal["starting", "connecting", "running", "reconnecting", "failed"]
    since: datetime | None = None
    last_error: Annotated[str, Field(max_length=500)] | None = None
    codec: Annotated[str, Field(max_length=32)] | None = None
    bitrate_kbps: Annotated[int, Field(ge=0, le=100_000)] | None = None
    last_audio_at: datetime | None = None
    last_identified_at: datetime | None = None
    last_song: Annotated[str, Field(max_length=300)] | None = None
    identifications: Annotated[int, Field(ge=0)] = 0


class WorkerHealthIn(RequestModel):
    """The worker's processor and what stops it doing its job (an empty catalog, say)."""

    processor: Annotated[str, Field(max_length=32)] | None = None
    since: datetime | None = None  # when these problems began: a new `since` is a new episode
    problems: Annotated[list[Annotated[str, Field(max_length=500)]], Field(max_length=20)] = Field(
        default_factory=list
    )
