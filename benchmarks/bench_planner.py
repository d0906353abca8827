"""Time and peak memory of `plan_assignment` on large fleets.

    .venv/bin/python benchmarks/bench_planner.py            # 1,000,000 streams x 10,000 instances
    .venv/bin/python benchmarks/bench_planner.py --quick    # 100,000 streams x 1,000 instances

Each scenario is timed with time.perf_counter (median and best of --repeat runs; the best is the
one least disturbed by other processes), then run once more
under tracemalloc for the peak of memory allocated during the call (NumPy arrays included).
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, replace

from fingerv7.core.planning import (
    AssignmentPlan,
    BalancePolicy,
    BalanceStrategy,
    InstanceSpec,
    InstanceState,
    StreamSpec,
    plan_assignment,
)

# Brazilian states, standing in for the `regiao`/`estado` metadata of real streams.
REGIONS = [f"uf-{n:02d}" for n in range(27)]


@dataclass(frozen=True)
class Scenario:
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


def scenarios(stream_count: int, instance_count: int) -> list[Scenario]:
    fleet = build_fleet(instance_count)
    streams = build_streams(stream_count)
    settled = plan_assignment(streams, fleet, {}).assignment
    dead = instance_count // 100
    failed = [
        replace(i, state=InstanceState.INACTIVE) if n < dead else i for n, i in enumerate(fleet)
    ]
    joined = [
        InstanceSpec(f"joined-{n:05d}", 120, InstanceState.REGISTERED)
        for n in range(instance_count // 10)
    ]
    capped = BalancePolicy(max_voluntary_moves=stream_count // 100)
    by_location = BalancePolicy(strategy=BalanceStrategy.LOCATION)
    by_performance = BalancePolicy(strategy=BalanceStrategy.PERFORMANCE)
    return [
        Scenario("initial placement (all new)", lambda: plan_assignment(streams, fleet, {})),
        Scenario("steady state (no change)", lambda: plan_assignment(streams, fleet, settled)),
        Scenario(
            "failover of 1% of instances",
            lambda: plan_assignment(streams, failed, settled, seconds_since_last_rebalance=0),
        ),
        Scenario(
            "scale-out +10% instances, forced rebalance",
            lambda: plan_assignment(streams, fleet + joined, settled, force_rebalance=True),
        ),
        Scenario(
            "scale-out +10%, moves capped at 1% of streams",
            lambda: plan_assignment(streams, fleet + joined, settled, capped),
        ),
        Scenario(
            "initial placement, location strategy",
            lambda: plan_assignment(streams, fleet, {}, by_location),
        ),
        Scenario(
            "initial placement, performance strategy",
            lambda: plan_assignment(streams, fleet, {}, by_performance),
        ),
    ]


def measure(scenario: Scenario, repeat: int) -> tuple[float, float, float, int]:
    """Median and fastest seconds, peak MiB allocated during one call, number of changes."""
    timings = []
    changes = 0
    for _ in range(repeat):
        started = time.perf_counter()
        plan = scenario.run()
        timings.append(time.perf_counter() - started)
        changes = len(plan.changes)
        del plan
    tracemalloc.start()
    plan = scenario.run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del plan
    return statistics.median(timings), min(timings), peak / 2**20, changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k streams x 1k instances")
    parser.add_argument("--streams", type=int, default=None)
    parser.add_argument("--instances", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    streams = args.streams or (100_000 if args.quick else 1_000_000)
    instances = args.instances or (1_000 if args.quick else 10_000)
    print(
        f"plan_assignment: {streams:,} streams x {instances:,} instances, {args.repeat} runs each"
    )
    print(f"{'scenario':48} {'median s':>9} {'best s':>9} {'peak MiB':>9} {'changes':>10}")
    for scenario in scenarios(streams, instances):
        median_s, best_s, peak_mib, changes = measure(scenario, args.repeat)
        print(f"{scenario.name:48} {median_s:9.3f} {best_s:9.3f} {peak_mib:9.1f} {changes:10,}")


if __name__ == "__main__":
    main()
