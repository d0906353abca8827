"""Turning stored rows into the manual's JSON views (`/instances`, `/streams/status`, `/health`)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from fingerv7.core.planning import compute_imbalance
from fingerv7.core.planning.model import InstanceState
from fingerv7.core.stream_health import REPORTING_STATES


def instance_view(row: dict[str, Any], current_streams: int) -> dict[str, Any]:
    """One instance in the manual's shape, plus `draining`, `generation` and live stats."""
    stats = row.get("stats") or {}
    max_streams = int(row["max_streams"])
    return {
        "id": row["id"],
        "status": row["state"],
        "draining": bool(row["draining"]),
        "registered_at": row["registered_at"],
        "last_heartbeat": row["last_seen_at"],
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
        "performance_score": row["performance_score"],
        "location": row["location"],
        "version": row["version"],
        "capabilities": row["capabilities"],
    }


def _running(row: dict[str, Any]) -> list[int]:
    """What an instance runs as far as we can tell: nothing once it is silent (WARNING) or
    INACTIVE, whatever it reported last (issue 11)."""
    if InstanceState(row["state"]) not in REPORTING_STATES:
        return []
    return list(row.get("reported_stream_ids") or [])


def running_stream_ids(rows: list[dict[str, Any]]) -> set[int]:
    return {s for r in rows for s in _running(r)}


def _accepts(row: dict[str, Any]) -> bool:
    return InstanceState(row["state"]).is_live and not row["draining"]


def fleet_summary(rows: list[dict[str, Any]], counts: dict[str, int]) -> dict[str, Any]:
    """The `summary` block of `/instances`: capacity, load and imbalance of accepting instances."""
    accepting = [r for r in rows if _accepts(r)]
    capacity = sum(int(r["max_streams"]) for r in accepting)
    loads = [(counts.get(r["id"], 0), int(r["max_streams"])) for r in accepting]
    average = 100.0 * sum(c / m for c, m in loads) / len(loads) if loads else 0.0
    return {
        "total_instances": len(rows),
        "total_capacity": capacity,
        "total_assigned": sum(counts.values()),
        "average_load": round(average, 1),
        "system_imbalance": round(compute_imbalance(loads), 4) if loads else 0.0,
    }


def state_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    counted = {state.value: 0 for state in InstanceState if state is not InstanceState.REMOVED}
    for row in rows:
        counted[row["state"]] = counted.get(row["state"], 0) + 1
    counted["draining"] = sum(1 for r in rows if r["draining"])
    counted["total"] = len(rows)
    return counted


def distribution(
    ownership: list[tuple[int, str | None, str | None]], rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per instance: the streams it owns now (target == holder)."""
    owned: dict[str, list[int]] = defaultdict(list)
    for stream_id, target, holder in ownership:
        if target is not None and target == holder:
            owned[target].append(stream_id)
    return [
        {
            "instance_id": r["id"],
            "assigned_streams": len(owned.get(r["id"], [])),
            "stream_ids": owned.get(r["id"], []),
            "last_updated": r["last_seen_at"],
        }
        for r in rows
    ]


def stream_totals(
    ownership: list[tuple[int, str | None, str | None]], running: set[int]
) -> dict[str, int]:
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


def recent_changes(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Audit rows grouped per (tick, from, to, reason), newest first, in the manual's shape."""
    groups: dict[tuple[int, str | None, str | None, str], list[dict[str, Any]]] = {}
    for change in changes:
        key = (
            change["generation"],
            change["from_instance"],
            change["to_instance"],
            change["reason"],
        )
        groups.setdefault(key, []).append(change)
    out = []
    for (_, source, target, reason), items in groups.items():
        at: datetime = items[0]["changed_at"]
        out.append(
            {
                "timestamp": at,
                "action": _action(source, target),
                "details": _details(len(items), source, target),
                "reason": reason,
                "stream_ids": sorted(i["stream_id"] for i in items),
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
