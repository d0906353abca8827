"""The answers of the protocol's hot calls (heartbeat, long-poll), shared by the routes and the
fast path in front of them (api/fast_path.py)."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException, status

from fingerv7.api.deps import Caller
from fingerv7.api.schemas import HeartbeatRequest, StreamCommand
from fingerv7.orchestrator.assignment_cache import CachedAssignment
from fingerv7.orchestrator.runtime import OrchestratorRuntime

log = logging.getLogger("fingerv7.orchestrator")

MAX_LONG_POLL_S = 60.0
COMMAND_TYPE = StreamCommand.model_fields["type"].default  # "stream_update"
DEFAULT_LONG_POLL_WAIT_S = 25.0


def not_registered(instance_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"instance '{instance_id}' is not registered; POST /register first",
    )


async def answer_heartbeat(
    runtime: OrchestratorRuntime, caller: Caller, body: HeartbeatRequest
) -> bytes:
    """Record what the instance runs; the JSON answer with its complete desired set.

    No database round trip in the steady case: the answer comes from this process's assignment
    cache (rendered once per generation) and the report joins the next batch write.
    """
    started = time.perf_counter()
    caller.admit(body.instance_id)
    entry = await runtime.cache.get(body.instance_id)
    if entry is None:
        raise not_registered(body.instance_id)
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
    return content


def render_heartbeat_answer(
    generation: int,
    streams_json: bytes,
    to_add: list[int],
    to_remove: list[int],
    next_heartbeat: datetime,
) -> bytes:
    """The HeartbeatResponse JSON, around the cached streams list (never re-serialised).

    A steady beat (nothing to add or remove, every beat of a settled fleet) gets the empty
    command list as a constant; commands are rendered from StreamCommand's defaults.
    """
    if to_add or to_remove:
        commands = [_command(s, "add") for s in to_add] + [_command(s, "remove") for s in to_remove]
        rendered_commands = json.dumps(commands, separators=(",", ":")).encode()
    else:
        rendered_commands = b"[]"
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
            rendered_commands,
            b"}",
        )
    )


def _command(stream_id: int, action: str) -> dict[str, object]:
    return {"type": COMMAND_TYPE, "stream_id": stream_id, "action": action}


def render_assignment_answer(instance_id: str, entry: CachedAssignment) -> bytes:
    """The AssignmentResponse JSON (the long-poll's answer), around the cached streams list."""
    return b"".join(
        (
            json.dumps({"instance_id": instance_id, "generation": entry.generation})[:-1].encode(),
            b',"streams":',
            entry.streams_json,
            b"}",
        )
    )
