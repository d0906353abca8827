"""Safe handoff under any interleaving: a stream never runs on two live instances at once.

A Hypothesis state machine plays the orchestrator's monitor (the pure `reconcile_fleet`) against
workers that fetch their desired set, apply it late, report late or not at all, die, come back,
get drained, while streams come and go. After every step: no stream is in two desired sets, and
no stream is run by two live instances.

One worker-side rule is part of the model: a worker that was frozen longer than the inactive
timeout stops every stream before it reports again, and ignores any answer it received before
the freeze (the worker's watchdog and the reconciler's epochs do this). A worker cut
off from a running orchestrator for that long keeps playing by design (docs/protocol.md), and is
outside what this test can promise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fingerv7.core.handoff import Holding
from fingerv7.core.lifecycle import InstanceFacts, LifecycleTimeouts
from fingerv7.core.planning.model import BalancePolicy, InstanceSpec, InstanceState, StreamSpec
from fingerv7.core.reconcile import FleetView, InstanceRecord, derive_states, reconcile_fleet

TIMEOUTS = LifecycleTimeouts(warning_s=2, inactive_s=4, removal_s=1000)
POLICY = BalancePolicy(imbalance_threshold=0.0, max_stream_difference=0, rebalance_cooldown_s=0)
WORKERS = ["w1", "w2", "w3"]


@dataclass
class SimulatedWorker:
    max_streams: int
    state: InstanceState = InstanceState.REGISTERED
    draining: bool = False
    alive: bool = True
    last_seen_s: float = 0.0
    beats: int = 0
    generation: int = 0  # its current desired-set generation, as the orchestrator stores it
    running: set[int] = field(default_factory=set)
    applied_generation: int = 0
    reported_running: frozenset[int] = frozenset()
    reported_generation: int = 0
    fetched: tuple[int, frozenset[int]] | None = None


class HandoffMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now_s = 0.0
        self.workers: dict[str, SimulatedWorker] = {}
        self.holdings: dict[int, Holding] = {}
        self.streams: set[int] = set(range(1, 13))
        self.generation = 0
        self.next_stream = 100

    def desired(self, worker_id: str) -> frozenset[int]:
        return frozenset(s for s, h in self.holdings.items() if h.owner == worker_id)

    @rule(worker_id=st.sampled_from(WORKERS), capacity=st.integers(1, 10))
    def register(self, worker_id: str, capacity: int) -> None:
        worker = self.workers.get(worker_id)
        if worker is None:
            self.workers[worker_id] = SimulatedWorker(capacity, last_seen_s=self.now_s)
        elif not worker.alive:
            # A worker that comes back starts with nothing running (a dead process, or a frozen
            # one that fenced itself on resume).
            worker.alive = True
            worker.running = set()
            worker.applied_generation = 0
            worker.fetched = None  # a new process holds no answer from its previous life
            worker.last_seen_s = self.now_s

    @rule(worker_id=st.sampled_from(WORKERS))
    def fetch(self, worker_id: str) -> None:
        worker = self.workers.get(worker_id)
        if worker and worker.alive and worker.state.is_live:
            worker.fetched = (worker.generation, self.desired(worker_id))

    @rule(worker_id=st.sampled_from(WORKERS))
    def apply(self, worker_id: str) -> None:
        worker = self.workers.get(worker_id)
        if worker and worker.alive and worker.fetched is not None:
            worker.applied_generation, streams = worker.fetched
            worker.running = set(streams)

    @rule(worker_id=st.sampled_from(WORKERS))
    def report(self, worker_id: str) -> None:
        worker = self.workers.get(worker_id)
        if worker and worker.alive:
            if self.now_s - worker.last_seen_s > TIMEOUTS.inactive_s:
                # Resumed after a freeze: fence first, and drop any answer received before it
                # (the worker's reconciler ignores answers from before the fence).
                worker.running = set()
                worker.applied_generation = 0
                worker.fetched = None
            worker.reported_running = frozenset(worker.running)
            worker.reported_generation = worker.applied_generation
            worker.last_seen_s = self.now_s
            worker.beats += 1

    @rule(worker_id=st.sampled_from(WORKERS))
    def die(self, worker_id: str) -> None:
        worker = self.workers.get(worker_id)
        if worker:
            worker.alive = False

    @rule(worker_id=st.sampled_from(WORKERS), draining=st.booleans())
    def drain(self, worker_id: str, draining: bool) -> None:
        worker = self.workers.get(worker_id)
        if worker:
            worker.draining = draining

    @rule(seconds=st.sampled_from([0.5, 1.0, 3.0, 5.0]))
    def time_passes(self, seconds: float) -> None:
        self.now_s += seconds

    @rule()
    def add_stream(self) -> None:
        self.streams.add(self.next_stream)
        self.next_stream += 1

    @precondition(lambda self: self.streams)
    @rule(data=st.data())
    def remove_stream(self, data: st.DataObject) -> None:
        self.streams.discard(data.draw(st.sampled_from(sorted(self.streams))))

    @rule()
    def tick(self) -> None:
        records = [
            InstanceRecord(
                spec=InstanceSpec(w_id, w.max_streams, w.state, w.draining),
                facts=InstanceFacts(
                    state=w.state,
                    last_seen_s=w.last_seen_s,
                    has_heartbeat=w.beats > 0,
                    applied_generation=w.reported_generation,
                    assigned_generation=w.generation,
                ),
                running=w.reported_running,
            )
            for w_id, w in sorted(self.workers.items())
        ]
        states = derive_states(records, self.now_s, TIMEOUTS, grace_start_s=None)
        view = FleetView(
            instances=records,
            holdings=self.holdings,
            streams=[StreamSpec(s) for s in sorted(self.streams)],
            generation=self.generation,
            seconds_since_last_rebalance=None,
            rebalance_requested=False,
        )
        decision = reconcile_fleet(view, states, POLICY)
        for stream_id, holding in decision.holdings.items():
            if holding is None:
                self.holdings.pop(stream_id, None)
            else:
                self.holdings[stream_id] = holding
        for worker_id in decision.changed_instances:
            self.workers[worker_id].generation = decision.generation
        for worker_id, state in states.items():
            self.workers[worker_id].state = state
        self.generation = decision.generation

    @invariant()
    def no_stream_desired_twice(self) -> None:
        seen: set[int] = set()
        for worker_id in self.workers:
            mine = self.desired(worker_id)
            assert not (mine & seen)
            seen |= mine

    @invariant()
    def no_stream_run_by_two_live_workers(self) -> None:
        seen: set[int] = set()
        for worker in self.workers.values():
            if worker.alive and worker.state.is_live:
                assert not (worker.running & seen), worker.running & seen
                seen |= worker.running

    @invariant()
    def holders_are_targets_or_releasing(self) -> None:
        for holding in self.holdings.values():
            if holding.holder is not None and holding.holder != holding.target:
                assert holding.revoked_generation is not None


TestHandoffSafety = HandoffMachine.TestCase
TestHandoffSafety.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)


def test_a_worker_resuming_from_a_freeze_never_shares_a_stream() -> None:
    """The interleaving random search finds rarely, spelled out."""
    machine = HandoffMachine()
    machine.streams = {1, 2}
    machine.register("w1", 5)
    machine.register("w2", 5)
    machine.tick()
    for worker_id in ("w1", "w2"):
        machine.fetch(worker_id)
        machine.apply(worker_id)
        machine.report(worker_id)
    machine.tick()
    machine.time_passes(5.0)  # w1 is frozen; w2 keeps beating
    machine.report("w2")
    machine.tick()
    assert machine.workers["w1"].state is InstanceState.INACTIVE
    machine.fetch("w2")
    machine.apply("w2")
    assert machine.workers["w2"].running == {1, 2}
    machine.report("w1")  # w1 resumes
    machine.tick()
    assert machine.workers["w1"].state is InstanceState.RECOVERING
    machine.no_stream_run_by_two_live_workers()
    machine.no_stream_desired_twice()


def test_an_answer_from_before_a_restart_is_never_applied() -> None:
    """Found by the state machine: a worker fetched, died, came back, and applied the old answer.

    Safe only because a new process (or one that fenced after a freeze) drops what it fetched
    before; this is the worker-side half of the handoff rule.
    """
    machine = HandoffMachine()
    machine.streams = {1}
    machine.register("w3", 1)
    machine.tick()
    machine.fetch("w3")
    machine.die("w3")
    machine.time_passes(5.0)
    machine.register("w1", 1)
    machine.tick()
    machine.fetch("w1")
    machine.register("w3", 1)  # back, with the answer from its previous life dropped
    machine.tick()
    machine.apply("w1")
    machine.apply("w3")
    assert machine.workers["w1"].running == {1}
    assert machine.workers["w3"].running == set()
    machine.no_stream_run_by_two_live_workers()
