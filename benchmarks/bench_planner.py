"""Time and peak memory of `plan_assignment`: the benchmark matrix of issue 2.

    .venv/bin/python benchmarks/bench_planner.py                 # all three sizes
    .venv/bin/python benchmarks/bench_planner.py --sizes 1k 100k # a subset

Sizes: 1,000 streams x 50 instances, 100,000 x 1,000, 1,000,000 x 10,000. For each size:
a full plan from empty, a plan after one instance dies, after one joins, and after 1% of the
streams change. Every cell is timed `--repeat` times with time.perf_counter after a
gc.collect() (the collector stays on during the call), and reports the median and the best.

`plan_assignment` returns a plan whose `changes` list and `assignment` dict are built on first
access: "+ changes" and "+ assignment" are the median extra times to read each once (the
orchestrator reads `changes` only, with the cyclic collector paused around it, as here). Peak
memory is measured in separate runs under tracemalloc: the peak of memory allocated during the
call alone, and during the call plus both reads (NumPy buffers included); it is not the process
RSS.
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from fingerv7.core.planning import (
    AssignmentPlan,
    InstanceSpec,
    InstanceState,
    StreamSpec,
    plan_assignment,
)
from fingerv7.orchestrator.collector_pause import collector_paused

SIZES = {"1k": (1_000, 50), "100k": (100_000, 1_000), "1m": (1_000_000, 10_000)}
# Brazilian states, standing in for the `regiao`/`estado` metadata of real streams.
REGIONS = [f"uf-{n:02d}" for n in range(27)]


@dataclass(frozen=True)
class Cell:
    name: str
    run: Callable[[], AssignmentPlan]


def build_fleet(instance_count: int) -> list[InstanceSpec]:
    return [
        InstanceSpec(
            f"fingerv7-{n:05d}",
            max_streams=100 + (n % 5) * 20,
            location=REGIONS[n % len(REGIONS)],
            performance_score=0.5 + (n % 7) / 4,
        )
        for n in range(instance_count)
    ]


def build_streams(stream_count: int) -> list[StreamSpec]:
    return [StreamSpec(n, region=REGIONS[(n * 7) % len(REGIONS)]) for n in range(stream_count)]


def cells(stream_count: int, instance_count: int) -> list[Cell]:
    """The four cells of one size. Incremental cells start from the settled full plan, with
    `current` built like a query result: rows in no particular order, each row's objects
    allocated as it is read (so ids are out of order but memory is walked in order)."""
    fleet = build_fleet(instance_count)
    streams = build_streams(stream_count)
    settled = list(plan_assignment(streams, fleet, {}).assignment.items())
    random.Random(7).shuffle(settled)
    stream_ids = np.array([stream_id for stream_id, _ in settled], dtype=np.int64).tolist()
    current = dict(zip(stream_ids, (holder for _, holder in settled), strict=True))
    del settled
    died = [replace(fleet[0], state=InstanceState.INACTIVE), *fleet[1:]]
    joined = [*fleet, InstanceSpec("fingerv7-joined", 120, InstanceState.REGISTERED)]
    churn = stream_count // 100
    # 1% of the streams leave the source and as many new ones arrive.
    changed = [*streams[churn:], *(StreamSpec(stream_count + n) for n in range(churn))]
    return [
        Cell("full plan from empty", lambda: plan_assignment(streams, fleet, {})),
        # Within the cooldown: only the dead instance's streams move (failover).
        Cell(
            "one instance dies",
            lambda: plan_assignment(streams, died, current, seconds_since_last_rebalance=0),
        ),
        # The orchestrator passes None when an accepting instance holds nothing: rebalance.
        Cell(
            "one instance joins",
            lambda: plan_assignment(streams, joined, current, seconds_since_last_rebalance=None),
        ),
        Cell(
            "1% of streams replaced",
            lambda: plan_assignment(changed, fleet, current, seconds_since_last_rebalance=0),
        ),
    ]


@dataclass(frozen=True)
class Result:
    median_s: float
    best_s: float
    changes_s: float
    assignment_s: float
    peak_mib: float
    peak_read_mib: float
    changes: int


def _peak_mib(action: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    action()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def _plan_and_read(cell: Cell) -> tuple[int, int]:
    plan = cell.run()
    with collector_paused():
        changes = len(plan.changes)
    return changes, len(plan.assignment)


def measure(cell: Cell, repeat: int) -> Result:
    timings: dict[str, list[float]] = {"plan": [], "changes": [], "assignment": []}
    changes = 0
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        plan = cell.run()
        planned = time.perf_counter()
        with collector_paused():
            changes = len(plan.changes)
        read_changes = time.perf_counter()
        len(plan.assignment)
        read_assignment = time.perf_counter()
        timings["plan"].append(planned - started)
        timings["changes"].append(read_changes - planned)
        timings["assignment"].append(read_assignment - read_changes)
        del plan
    return Result(
        median_s=statistics.median(timings["plan"]),
        best_s=min(timings["plan"]),
        changes_s=statistics.median(timings["changes"]),
        assignment_s=statistics.median(timings["assignment"]),
        peak_mib=_peak_mib(cell.run),
        peak_read_mib=_peak_mib(lambda: _plan_and_read(cell)),
        changes=changes,
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(
        f"Python {platform.python_version()}, NumPy {np.__version__}, {platform.machine()}; "
        f"{args.repeat} runs per cell; times in ms\n"
    )
    print(
        "| size | cell | plan median | plan best | + changes | + assignment | "
        "peak MiB (plan / + reads) | changes |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in args.sizes:
        stream_count, instance_count = SIZES[size]
        label = f"{stream_count:,} x {instance_count:,}"
        for cell in cells(stream_count, instance_count):
            r = measure(cell, args.repeat)
            print(
                f"| {label} | {cell.name} | {_ms(r.median_s)} | {_ms(r.best_s)} | "
                f"{_ms(r.changes_s)} | {_ms(r.assignment_s)} | "
                f"{r.peak_mib:,.1f} / {r.peak_read_mib:,.1f} | {r.changes:,} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
