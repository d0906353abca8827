"""How the orchestrator process sets CPython's cyclic garbage collector, and why.

At 100,000 streams and 2,000 instances the process holds about a million objects the collector
tracks (streams, holdings, plan inputs, the stream-health judgement). With CPython's default
thresholds (700, 10, 10) a collection of the youngest generation runs every few hundred
allocations, so under load anything that outlives a few milliseconds (a heartbeat's report until
its flush, a long-poll) is promoted, and a full collection of that million ran about every 10 s,
pausing every thread for 0.5-0.8 s (measured with `gc.callbacks` during `bench_fleet.py`): the
slowest heartbeats were the ones that waited behind it. Set by the orchestrator's own processes
(`fingerv7 orchestrator`, each `MAX_WORKERS` process), not by the library: a test process that
starts orchestrators in-process keeps its defaults.

With a youngest generation of 50,000 objects a request's objects are freed by reference counting
before any collection sees them, so few reach the old generation: in the same benchmark no full
collection ran in two minutes of steady state, young collections paused for tens of
milliseconds, and the process used 40 % less CPU (docs/orchestrator.md, "At fleet scale").
Memory is not at stake: reference counting frees everything that is not in a cycle at once,
whatever the thresholds; only cyclic garbage waits a little longer.
"""

from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 50_000


def tune_collector() -> None:
    """Raise the youngest generation's threshold; the older generations keep theirs."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_GENERATION_THRESHOLD), middle, old)
