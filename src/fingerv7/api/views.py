"""Turning stored rows into the manual's JSON views (`/instances`, `/streams/status`, `/health`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fingerv7.core.planning import compute_imbalance
from fingerv7.core.planning.model import InstanceState
from fingerv7.core.stream_health import REPORTING_STATES
from fingerv7.storage.fleet_rows import InstanceRow, StreamChange, StreamOwnership


def instance_view(row: InstanceRow, current_streams: int) -> dict[str, Any]:
    """One instance in the manual's shape, plus `draining`, `generation` and live stats."""
    stats = row.stats
    max_streams = row.max_streams
    return {
        "id": row.id,
        "status": row.state.value,
        "draining": row.draining,
        "registered_at": row.registered_at,
        "last_heartbeat": row.last_seen_at,
        "max_streams": max_streams,
        "current_streams": current_streams,
        "running_streams": len(_running(row)),
        "load_percentage": round(100.0 * current_streams / max_streams, 1) if max_streams else 0.0,
        "processed_total": int(stats.get("processed_count") or 0),
        "errors_total": int(stats.get("error_count") or 0),
        "cpu_usage": stats.get("cpu_usage"),
        "memory_usage": stats.get("memory_usage"),
        "process_cpu_usage": stats.get("process_cpu_usage"),
        "process_memory_usage": stats.get("process_memory_usage"),
        "play_log": stats.get("play_log"),  # None from a worker that logs no plays (or older)
        "performance_score": row.performance_score,
        "location": row.location,
        "version": row.version,
        "capabilities": list(row.capabilities),
    }


def _running(row: InstanceRow) -> tuple[int, ...]:
    """What an instance runs as far as we can tell: nothing once it is silent (WARNING) or
    INACTIVE, whatever it reported last (issue 11)."""
    if row.state not in REPORTING_STATES:
        return ()
    return row.reported_stream_ids


def running_stream_ids(rows: list[InstanceRow]) -> set[int]:
    return {s for r in rows for s in _running(r)}


def _accepts(row: InstanceRow) -> bool:
    return row.state.is_live and not row.draining


def fleet_summary(rows: list[InstanceRow], counts: dict[str, int]) -> dict[str, Any]:
    """The `summary` block of `/instances`: capacity, load and imbalance of accepting instances."""
    accepting = [r for r in rows if _accepts(r)]
    capacity = sum(r.max_streams for r in accepting)
    loads = [(counts.get(r.id, 0), r.max_streams) for r in accepting]
    average = 100.0 * sum(c / m for c, m in loads) / len(loads) if loads else 0.0
    return {
        "total_instances": len(rows),
        "total_capacity": capacity,
        "total_assigned": sum(counts.values()),
        "average_load": round(average, 1),
        "system_imbalance": round(compute_imbalance(loads), 4) if loads else 0.0,
    }


def state_counts(rows: list[InstanceRow]) -> dict[str, int]:
    counted = {state.value: 0 for state in InstanceState if state is not InstanceState.REMOVED}
    for row in rows:
        counted[row.state.value] = counted.get(row.state.value, 0) + 1
    counted["draining"] = sum(1 for r in rows if r.draining)
    counted["total"] = len(rows)
    return counted


def distribution(ownership: list[StreamOwnership], rows: list[InstanceRow]) -> list[dict[str, Any]]:
    """Per instance: the streams it owns now (target == holder)."""
    owned: dict[str, list[int]] = defaultdict(list)
    for stream_id, target, holder in ownership:
        if target is not None and target == holder:
            owned[target].append(stream_id)
    return [
        {
            "instance_id": r.id,
            "assigned_streams": len(owned.get(r.id, [])),
            "stream_ids": owned.get(r.id, []),
            "last_updated": r.last_seen_at,
        }
        for r in rows
    ]


def stream_totals(ownership: list[StreamOwnership], running: set[int]) -> dict[str, int]:
    assigned = sum(1 for _, target, holder in ownership if target is not None and target == holder)
    moving = sum(1 for _, target, holder in ownership if target is not None and target != holder)
    unassigned = sum(1 for _, target, _ in ownership if target is None)
    total = len(ownership)
    active = sum(1 for s, _, _ in ownership if s in running)
    return {
        "total": total,
        "active": active,
        "inactive": total - active,
        "assigned": assigned,
        "in_handoff": moving,
        "unassigned": unassigned,
    }


def recent_changes(changes: list[StreamChange]) -> list[dict[str, Any]]:
    """Audit rows grouped per (tick, from, to, reason), newest first, in the manual's shape."""
    groups: dict[tuple[int, str | None, str | None, str], list[StreamChange]] = {}
    for change in changes:
        key = (change.generation, change.from_instance, change.to_instance, change.reason)
        groups.setdefault(key, []).append(change)
    out = []
    for (_, source, target, reason), items in groups.items():
        out.append(
            {
                "timestamp": items[0].changed_at,
                "action": _action(source, target),
                "details": _details(len(items), source, target),
                "reason": reason,
                "stream_ids": sorted(i.stream_id for i in items),
            }
        )
    return out


def _action(source: str | None, target: str | None) -> str:
    if source is None:
        return "assign"
    if target is None:
        return "unassign"
    return "move"


def _details(count: int, source: str | None, target: str | None) -> str:
    noun = "stream" if count == 1 else "streams"
    if source is None:
        return f"Assigned {count} {noun} to {target}"
    if target is None:
        return f"Unassigned {count} {noun} from {source}"
    return f"Moved {count} {noun} from {source} to {target}"
