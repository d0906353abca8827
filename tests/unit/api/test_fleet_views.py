"""The fleet views' JSON from typed store rows: pure functions, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fingerv7.api import views
from fingerv7.core.planning.model import InstanceState
from fingerv7.storage.fleet_rows import InstanceRow, StreamChange, StreamOwnership

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def instance(
    instance_id: str, state: InstanceState = InstanceState.ACTIVE, **changes: Any
) -> InstanceRow:
    row = InstanceRow(
        id=instance_id,
        state=state,
        draining=False,
        max_streams=10,
        capabilities=("fingerprint",),
        version="7.0",
        location=None,
        performance_score=1.0,
        registered_at=T0,
        last_seen_at=T0 + timedelta(seconds=30),
        generation=3,
        reported_stream_ids=(1, 2),
        stats={"processed_count": 5, "cpu_usage": 12.5},
    )
    return replace(row, **changes)


def test_instance_view_has_the_manual_shape() -> None:
    view = views.instance_view(instance("a"), current_streams=4)

    assert view["status"] == "active" and type(view["status"]) is str
    assert view["last_heartbeat"] == T0 + timedelta(seconds=30)
    assert (view["load_percentage"], view["running_streams"]) == (40.0, 2)
    assert (view["processed_total"], view["errors_total"], view["cpu_usage"]) == (5, 0, 12.5)
    assert view["memory_usage"] is None
    assert view["capabilities"] == ["fingerprint"]


def test_a_silent_instance_runs_nothing_as_far_as_we_can_tell() -> None:
    rows = [instance("a"), instance("b", InstanceState.WARNING, reported_stream_ids=(3,))]

    assert views.running_stream_ids(rows) == {1, 2}
    assert views.instance_view(rows[1], current_streams=1)["running_streams"] == 0


def test_summary_counts_only_instances_that_accept_streams() -> None:
    rows = [
        instance("a"),
        instance("b", draining=True),
        instance("c", InstanceState.INACTIVE),
        instance("d", max_streams=30),
    ]

    summary = views.fleet_summary(rows, {"a": 5, "b": 2, "d": 15})

    assert summary == {
        "total_instances": 4,
        "total_capacity": 40,
        "total_assigned": 22,
        "average_load": 50.0,
        "system_imbalance": 0.0,
    }
    counts = views.state_counts(rows)
    assert {k: counts[k] for k in ("active", "inactive", "draining", "total")} == {
        "active": 3,
        "inactive": 1,
        "draining": 1,
        "total": 4,
    }


def test_ownership_totals_and_distribution() -> None:
    ownership = [
        StreamOwnership(1, "a", "a"),
        StreamOwnership(2, "a", "b"),  # moving from b to a
        StreamOwnership(3, None, None),
    ]

    assert views.stream_totals(ownership, running={1, 2}) == {
        "total": 3,
        "active": 2,
        "inactive": 1,
        "assigned": 1,
        "in_handoff": 1,
        "unassigned": 1,
    }
    (entry_a, entry_b) = views.distribution(ownership, [instance("a"), instance("b")])
    assert (entry_a["stream_ids"], entry_b["stream_ids"]) == ([1], [])


def test_changes_are_grouped_per_tick_route_and_reason() -> None:
    def change(stream_id: int, source: str | None, target: str | None) -> StreamChange:
        return StreamChange(T0, 7, stream_id, source, target, "rebalance")

    grouped = views.recent_changes([change(9, "a", "b"), change(4, "a", "b"), change(5, None, "c")])

    assert [(g["action"], g["details"], g["stream_ids"]) for g in grouped] == [
        ("move", "Moved 2 streams from a to b", [4, 9]),
        ("assign", "Assigned 1 stream to c", [5]),
    ]
