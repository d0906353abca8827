"""The ownership journal: an append-only record of when each stream task started and stopped.

With `WORKER_JOURNAL_PATH` set, the worker appends one JSON line per event and fsyncs it before
acting, so the file survives `kill -9`. A `start` line is written before the task exists and a
`stop` line only after the task has finished, so each journal interval contains the time the
task really ran. Times are `time.monotonic()` (one clock for every process on a Linux host, so
journals of several workers can be compared) plus wall-clock UTC for people.

:func:`find_double_ownership` is the judge the failure drills use: no stream may be held by two
processes at once. A `fence` line marks a freeze the worker noticed (its loop did not run from
`gap_from_mono` to `gap_to_mono`); from the freeze on, the worker processes nothing for the streams
it held, so their intervals are cut where the loop last ran: `gap_from_mono` plus one watchdog tick.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class OwnershipJournal:
    """Appends fsync'd JSON lines; a journal without a path records nothing."""

    def __init__(self, path: Path | None, instance_id: str) -> None:
        self.path = path
        self.instance_id = instance_id
        self._fd: int | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def record_start(self, stream_id: int) -> None:
        self._write({"event": "start", "stream_id": stream_id})

    def record_stop(
        self, stream_id: int, reason: str, last_activity: datetime | None = None
    ) -> None:
        """`last_activity`: when the task last committed work (lets a drill check a freeze)."""
        self._write(
            {
                "event": "stop",
                "stream_id": stream_id,
                "reason": reason,
                "last_activity": last_activity.isoformat() if last_activity else None,
            }
        )

    def record_fence(self, gap_from_mono: float, gap_to_mono: float, tick_s: float = 0.0) -> None:
        """The loop last ran at `gap_from_mono` (give or take one watchdog tick, `tick_s`)."""
        gap_from_wall = datetime.now(UTC).timestamp() - (time.monotonic() - gap_from_mono)
        self._write(
            {
                "event": "fence",
                "gap_from_mono": gap_from_mono,
                "gap_to_mono": gap_to_mono,
                "gap_from_wall": datetime.fromtimestamp(gap_from_wall, UTC).isoformat(),
                "tick_s": tick_s,
            }
        )

    def record_process(self, event: str) -> None:
        """`process_start` / `process_exit`: brackets one worker process's lifetime."""
        self._write({"event": event})

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _write(self, fields: dict[str, Any]) -> None:
        if self._fd is None:
            return
        record = {
            "mono": time.monotonic(),
            "wall": datetime.now(UTC).isoformat(),
            "instance_id": self.instance_id,
            "pid": os.getpid(),
            **fields,
        }
        os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
        os.fsync(self._fd)


def read_journal(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """All events of the given journal files, in file order (a torn last line is skipped)."""
    events: list[dict[str, Any]] = []
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


@dataclass(frozen=True, slots=True)
class OwnershipInterval:
    """One worker held `stream_id` from `start_mono` to `end_mono` (inf: never released).

    A holder is a (pid, instance_id) pair: one process, or one of several workers that a test
    runs inside a single process.
    """

    pid: int
    instance_id: str
    stream_id: int
    start_mono: float
    end_mono: float


def ownership_intervals(
    events: Iterable[Mapping[str, Any]], died_at_mono: Mapping[int, float] | None = None
) -> list[OwnershipInterval]:
    """Pair start/stop lines per process; close open ones at the process's death, if known."""
    died_at_mono = died_at_mono or {}
    # (pid, instance_id, stream_id) -> start
    open_starts: dict[tuple[int, str, int], float] = {}
    intervals: list[OwnershipInterval] = []
    for event in sorted(events, key=lambda e: float(e["mono"])):
        holder = (int(event["pid"]), str(event["instance_id"]))
        kind = event["event"]
        if kind == "start":
            open_starts[(*holder, int(event["stream_id"]))] = float(event["mono"])
        elif kind == "stop":
            key = (*holder, int(event["stream_id"]))
            if key in open_starts:
                start = open_starts.pop(key)
                intervals.append(OwnershipInterval(*key, start, float(event["mono"])))
        elif kind == "fence":
            # Cut everything this holder had at the start of the freeze.
            for key in [k for k in open_starts if k[:2] == holder]:
                start = open_starts.pop(key)
                last_ran = float(event["gap_from_mono"]) + float(event.get("tick_s", 0.0))
                end = max(start, last_ran)
                intervals.append(OwnershipInterval(*key, start, end))
    for key, start in open_starts.items():
        intervals.append(OwnershipInterval(*key, start, died_at_mono.get(key[0], math.inf)))
    return intervals


def find_double_ownership(
    intervals: Iterable[OwnershipInterval],
) -> list[tuple[OwnershipInterval, OwnershipInterval]]:
    """Every pair of intervals in which two processes held the same stream at the same time."""
    by_stream: dict[int, list[OwnershipInterval]] = defaultdict(list)
    for interval in intervals:
        by_stream[interval.stream_id].append(interval)
    overlaps: list[tuple[OwnershipInterval, OwnershipInterval]] = []
    for held in by_stream.values():
        held.sort(key=lambda i: i.start_mono)
        for index, first in enumerate(held):
            for second in held[index + 1 :]:
                if second.start_mono >= first.end_mono:
                    continue
                if (second.pid, second.instance_id) != (first.pid, first.instance_id):
                    overlaps.append((first, second))
    return overlaps
