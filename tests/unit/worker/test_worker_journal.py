"""The ownership journal and the judge the drills use: never two holders of a stream at once."""

from __future__ import annotations

import json
import math
from pathlib import Path

from fingerv7.worker.journal import (
    OwnershipJournal,
    find_double_ownership,
    ownership_intervals,
    read_journal,
)


def event(kind: str, mono: float, pid: int, stream_id: int | None = None, **extra: object) -> dict:
    record: dict = {"event": kind, "mono": mono, "pid": pid, "instance_id": f"w{pid}", **extra}
    if stream_id is not None:
        record["stream_id"] = stream_id
    return record


def test_a_clean_handover_is_not_double_ownership() -> None:
    events = [
        event("start", 1.0, 1, 7),
        event("stop", 5.0, 1, 7),
        event("start", 5.2, 2, 7),
    ]
    intervals = ownership_intervals(events)
    assert find_double_ownership(intervals) == []
    assert {(i.pid, i.end_mono) for i in intervals} == {(1, 5.0), (2, math.inf)}


def test_overlap_between_two_holders_is_found() -> None:
    events = [event("start", 1.0, 1, 7), event("start", 4.0, 2, 7), event("stop", 5.0, 1, 7)]
    overlaps = find_double_ownership(ownership_intervals(events))
    assert [(a.pid, b.pid) for a, b in overlaps] == [(1, 2)]


def test_a_killed_process_holds_until_it_died() -> None:
    events = [event("start", 1.0, 1, 7), event("start", 9.0, 2, 7)]
    assert find_double_ownership(ownership_intervals(events, {1: 8.0})) == []
    assert find_double_ownership(ownership_intervals(events, {1: 9.5})) != []
    assert find_double_ownership(ownership_intervals(events)) != []  # never released


def test_a_fence_cuts_ownership_at_the_start_of_the_freeze() -> None:
    events = [
        event("start", 1.0, 1, 7),
        event("start", 1.0, 1, 8),
        event("start", 6.0, 2, 7),  # granted elsewhere while 1 was frozen from 3.0
        event("fence", 10.0, 1, gap_from_mono=3.0, gap_to_mono=10.0),
        event("stop", 10.1, 1, 7),
        event("stop", 10.1, 1, 8),
        event("start", 11.0, 1, 8),  # re-assigned after the re-sync: a new interval
    ]
    intervals = ownership_intervals(events)
    assert find_double_ownership(intervals) == []
    assert sorted((i.pid, i.stream_id, i.end_mono) for i in intervals) == [
        (1, 7, 3.0),
        (1, 8, 3.0),
        (1, 8, math.inf),
        (2, 7, math.inf),
    ]


def test_one_process_may_run_several_workers() -> None:
    events = [
        {"event": "start", "mono": 1.0, "pid": 5, "instance_id": "a", "stream_id": 1},
        {"event": "start", "mono": 2.0, "pid": 5, "instance_id": "b", "stream_id": 1},
    ]
    assert len(find_double_ownership(ownership_intervals(events))) == 1


def test_journal_lines_are_appended_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "w1.jsonl"
    journal = OwnershipJournal(path, "w1")
    journal.record_process("process_start")
    journal.record_start(3)
    journal.record_stop(3, "unassigned")
    journal.record_fence(1.0, 2.0)
    journal.close()
    OwnershipJournal(path, "w1").record_start(4)  # a second process appends
    with path.open("a") as torn:
        torn.write('{"event": "sta')  # a line cut by kill -9
    events = read_journal([path, tmp_path / "missing.jsonl"])
    assert [e["event"] for e in events] == ["process_start", "start", "stop", "fence", "start"]
    assert all(e["instance_id"] == "w1" and e["mono"] > 0 and e["wall"] for e in events)
    assert events[2]["reason"] == "unassigned"
    assert "gap_from_wall" in events[3]
    json.loads(path.read_text().splitlines()[0])


def test_a_journal_without_path_records_nothing(tmp_path: Path) -> None:
    journal = OwnershipJournal(None, "w1")
    journal.record_start(1)
    journal.close()
    assert list(tmp_path.iterdir()) == []
