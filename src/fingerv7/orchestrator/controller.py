"""The monitor: a reconcile loop that keeps every active stream on exactly one healthy instance.

Level-triggered, like a Kubernetes controller: each tick reads the facts (instances and their
reports, the streams to monitor, who holds what), asks the pure core what should change, and writes
it in one transaction. A tick that is missed or fails is simply done again by the next one. Only
the holder of the leader lease ticks, and its write is fenced by the lease's epoch; the loop wakes
at `monitor_interval` or at once when :meth:`FleetController.wake` is called (a request handler in
this process, or a notification from another process).

At fleet size a tick that changes nothing must cost little: instance rows are re-read each tick
but their reports only where they changed, the plan is skipped when none of its inputs moved, and
planning itself runs in a worker thread so request handling goes on meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

from fingerv7.core.cold_start import JoinWatch
from fingerv7.core.handoff import Holding
from fingerv7.core.lifecycle import LifecycleTimeouts, next_transition_s
from fingerv7.core.planning.model import ChangeReason, InstanceState, StreamSpec
from fingerv7.core.reconcile import (
    FleetView,
    InstanceRecord,
    TickDecision,
    derive_states,
    reconcile_fleet,
)
from fingerv7.orchestrator.collector_pause import collector_paused
from fingerv7.orchestrator.fleet_log import log_tick
from fingerv7.orchestrator.leadership import Leadership
from fingerv7.orchestrator.quiet_ticks import Inputs, QuietTickGate
from fingerv7.orchestrator.settings import OrchestratorSettings
from fingerv7.orchestrator.source_sync import SourceSync, SourceSyncer, StreamSource
from fingerv7.orchestrator.tick_observers import TickFacts
from fingerv7.orchestrator.tick_records import instance_record, is_noop, tick_write
from fingerv7.storage.fleet_rows import FleetRow
from fingerv7.storage.tick_store import (
    InstanceRow,
    StaleLeadershipError,
    SyncedStream,
    TickStorage,
    TickWrite,
    stream_specs,
)

log = logging.getLogger("fingerv7.orchestrator")

TickObserver = Callable[[TickFacts], Awaitable[None]]
TICK_GAP_S = 0.05
DUE_MARGIN_S = 0.01  # wake just past a threshold: states change when silence *exceeds* it


class FleetController:
    """Runs monitor ticks while this process is the leader."""

    def __init__(
        self,
        store: TickStorage,
        source: StreamSource,
        settings: OrchestratorSettings,
        leadership: Leadership,
        on_generation: Callable[[], None] = lambda: None,
        observers: Sequence[TickObserver] = (),
    ) -> None:
        self.store = store
        self.syncer = SourceSyncer(source, settings.stream_sync_interval)
        self.settings = settings
        self.leadership = leadership
        self.on_generation = on_generation
        self.observers = list(observers)
        self.timeouts = LifecycleTimeouts(
            warning_s=settings.heartbeat_warning_threshold,
            inactive_s=settings.heartbeat_timeout,
            removal_s=settings.instance_removal_timeout,
        )
        self.quiet = QuietTickGate(store, self.timeouts)
        self.is_leader = False
        self.ticks = 0  # monitor ticks run (leader only)
        self.quiet_ticks = 0  # of which decided from digests alone (quiet_ticks.py)
        self.rounds = 0  # loop rounds, leader or not
        self.last_tick_error: str | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loaded = False
        self._holdings: dict[int, Holding] = {}
        self._handoffs: dict[int, Holding] = {}  # the holdings with holder != target
        self._streams: dict[int, SyncedStream] = {}
        self._instances: dict[str, InstanceRow] = {}
        self._refreshed: frozenset[int] = frozenset()
        self._generation = 0
        self._grace_start_s: float | None = None
        self._next_due_s: float | None = None  # wall clock; see _idle_s
        self._cooldown_end_s = math.inf  # wall clock; see _nothing_to_decide
        self._last_states: dict[str, InstanceState] = {}
        self._last_plan_key: object = None
        self._streams_version = 0
        self._specs: list[StreamSpec] = []
        self._specs_version = -1
        self._move_away: dict[int, str] = {}
        self._joins = JoinWatch(settings.cold_start_policy())
        self._placement_held_until: float | None = None  # wall clock; see core/cold_start.py

    @property
    def next_due_at(self) -> float | None:
        """Wall-clock moment the monitor next ticks with no wake-up (None: not yet known)."""
        return self._next_due_s

    def wake(self) -> None:
        """Ask for a tick now (a heartbeat, registration or operator action arrived)."""
        self._wake.set()

    def request_move_away(self, streams: Mapping[int, str]) -> None:
        """Streams that must leave the named instance (quarantine); replaces the last request.

        Naming the instance makes a request that was carried out a no-op, so it may stay."""
        if streams != self._move_away:
            self._move_away = dict(streams)
            self.wake()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Loop until stopped: become leader when possible, tick, sleep until woken."""
        failures = 0
        while not self._stopping.is_set():
            try:
                await self._lead_and_tick()
                failures = 0
                self.rounds += 1
                self.last_tick_error = None  # /health shows a monitor failing *now*
            except StaleLeadershipError as error:
                self._step_down()
                log.warning("[BALANCE] stale leader: %s; dropping caches", error)
            except Exception as error:
                failures += 1
                self._loaded = False  # re-read everything once the database is back
                self.last_tick_error = f"{type(error).__name__}: {error}"
                log.exception("[ERROR] [BALANCE] monitor tick failed; retrying")
            delay_s = self.settings.monitor_interval * min(2**failures, 30) if failures else None
            await self._sleep(delay_s or self._idle_s())
        if self.is_leader:
            await self.leadership.release()
            self.is_leader = False

    def _idle_s(self) -> float:
        """How long the monitor may wait for a wake-up: until the next moment something is due
        by time alone (an instance's silence crossing a threshold, the source sync, the end of
        the rebalance cooldown), at most MONITOR_INTERVAL. Reports that change something,
        registrations and operator actions wake it sooner; steady heartbeats only postpone
        what is due, so a quiet fleet is not re-read every second."""
        interval_s = self.settings.monitor_interval
        if not self.is_leader:  # a follower polls for the lease as often as the leader renews
            return min(interval_s, self.settings.leader_lease_seconds / 4)
        if self._next_due_s is None:
            return interval_s
        return min(interval_s, max(0.0, self._next_due_s - time.time()) + DUE_MARGIN_S)

    async def _sleep(self, seconds: float) -> None:
        """Until woken or `seconds` passed; but never tick again sooner than TICK_GAP_S.

        At fleet size wake-ups arrive by the dozen per second (every first beat, every release):
        one tick handles all that arrived meanwhile, so a short gap trades a few milliseconds of
        latency for not re-reading 2,000 instances fifty times a second.
        """
        started = time.monotonic()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass
        gap_s = min(TICK_GAP_S, seconds) - (time.monotonic() - started)
        if gap_s > 0 and not self._stopping.is_set():
            await asyncio.sleep(gap_s)
        self._wake.clear()

    def _step_down(self) -> None:
        self.is_leader = False
        self._loaded = False  # a new term starts from what the database says
        self.leadership.step_down()

    async def _lead_and_tick(self) -> None:
        if self.is_leader and not self.leadership.still_held():
            log.warning("[BALANCE] lost the leader lease; this process stops running the monitor")
            self._step_down()
        if not self.is_leader:
            self.is_leader = await self.leadership.try_acquire()
            if not self.is_leader:
                return
            log.info(
                "[BALANCE] this process is now the leader (epoch %s): it runs the monitor",
                self.leadership.epoch,
            )
            self._grace_start_s = time.time()
            self._loaded = False
        await self.tick()

    async def _load(self) -> None:
        self._holdings = await self.store.load_holdings()
        self._handoffs = {s: h for s, h in self._holdings.items() if h.holder != h.target}
        self._streams = await self.store.load_monitored_streams()
        self._instances = {}
        self._streams_version += 1
        self._generation = await self.store.fleet_generation()
        self._last_plan_key = None
        self.syncer.restart()
        self.quiet.remember(None)
        self._placement_held_until = None
        self._loaded = True

    def ownership_view(
        self,
    ) -> tuple[list[InstanceRow], dict[int, Holding], list[int]] | None:
        """The leader's own instances, holdings and stream ids as of its last tick (copies):
        the stream-health pass reads this instead of 100,000 ownership rows. None when not
        leading."""
        if not (self.is_leader and self._loaded and self._instances):
            return None
        return list(self._instances.values()), dict(self._holdings), list(self._streams)

    async def tick(self) -> TickDecision:
        """One reconcile pass. Public so tests can drive the monitor step by step."""
        if not self._loaded:
            await self._load()
        started_s = time.perf_counter()
        now = datetime.now(UTC)
        now_s = now.timestamp()
        sync = await self.syncer.sync(now_s, self._streams)
        if sync is not None:
            self._apply_sync(sync)
        fleet = await self.store.fleet_row()
        inputs, next_crossing_s = await self._inputs(fleet, now_s)
        if not (sync and sync.changed) and self._nothing_to_decide(inputs, now_s):
            return await self._quiet_tick(now, started_s, fleet, sync, next_crossing_s)
        rows = await self.store.instance_rows(self._instances)
        self._instances = {row.id: row for row in rows}
        # 2,000 instances and 100,000 streams: deciding is CPU work, done off the event loop
        # that answers heartbeats (the loop only waits for it).
        decision, write, view_generation = await asyncio.to_thread(
            self._decide, now, rows, fleet, sync
        )
        if write is not None:
            epoch = self.leadership.epoch
            if epoch is None:
                raise StaleLeadershipError("the leader lease lapsed before the tick was written")
            await self.store.write_tick(write, epoch=epoch, expected_generation=self._generation)
            self._commit(decision)
            self._refreshed = frozenset()
            log_tick(decision, write, self._previous_states(rows))
            if decision.generation != view_generation:
                self.on_generation()
        # A tick that wrote is followed by a full one; one that changed nothing may be repeated
        # cheaply while its inputs stay the same (see _nothing_to_decide).
        held = self._placement_held_until is not None
        self.quiet.remember(inputs if write is None and not held else None)
        self._last_states = decision.states
        self.ticks += 1
        source_up = None if sync is None else sync.status == "healthy"
        duration_s = time.perf_counter() - started_s
        await self._notify_observers(TickFacts(now, decision, write, rows, source_up, duration_s))
        return decision

    async def _inputs(self, fleet: FleetRow, now_s: float) -> tuple[Inputs | None, float | None]:
        """What a tick decides from, but the source (see quiet_ticks.py)."""
        # Right after a takeover silence counts from the takeover (the lifecycle's grace).
        grace_s = None if self._grace_start_s is None else max(0.0, now_s - self._grace_start_s)
        return await self.quiet.inputs(
            fleet,
            grace_s,
            streams_version=self._streams_version,
            move_away=self._move_away,
            generation=self._generation,
        )

    def _nothing_to_decide(self, inputs: Inputs | None, now_s: float) -> bool:
        """True when this tick would decide what the last one did, nothing: the digests say so,
        no handoff is in progress, no stream's URL changed, no rebalance cooldown ended."""
        settled = not self._handoffs and not self._refreshed
        cooldown_running = now_s < self._cooldown_end_s
        return self.quiet.allows(inputs, settled=settled, cooldown_running=cooldown_running)

    async def _quiet_tick(
        self,
        now: datetime,
        started_s: float,
        fleet: FleetRow,
        sync: SourceSync | None,
        next_crossing_s: float | None,
    ) -> TickDecision:
        """A tick that read only digests: observers see the states of the last full tick. A
        source sync that found nothing new writes only its outcome (fenced, like every write)."""
        decision = TickDecision(states=dict(self._last_states), generation=self._generation)
        # Sleep until the next threshold crossing the database sees (or the sync, cooldown).
        now_s = now.timestamp()
        crossing_s = None if next_crossing_s is None else now_s + next_crossing_s
        self._next_due_s = self._next_due(crossing_s, fleet, now_s)
        write = None
        if sync is not None:
            epoch = self.leadership.epoch
            if epoch is None:
                raise StaleLeadershipError("the leader lease lapsed before the tick was written")
            write = tick_write(now, decision, [], fleet, sync)
            await self.store.write_tick(write, epoch=epoch, expected_generation=self._generation)
        self.ticks += 1
        self.quiet_ticks += 1
        rows = list(self._instances.values())
        source_up = None if sync is None else sync.status == "healthy"
        duration_s = time.perf_counter() - started_s
        await self._notify_observers(TickFacts(now, decision, write, rows, source_up, duration_s))
        return decision

    def _decide(
        self,
        now: datetime,
        rows: list[InstanceRow],
        fleet: FleetRow,
        sync: SourceSync | None,
    ) -> tuple[TickDecision, TickWrite | None, int]:
        """The tick's pure part: states, the plan when its inputs changed, settled handoffs,
        and what to write (None when nothing). Runs in a worker thread while the loop awaits
        it; the only state it sets is the plan key and the next due moment (`_idle_s`)."""
        now_s = now.timestamp()
        records = [instance_record(row, now_s) for row in rows]
        states = derive_states(records, now_s, self.timeouts, self._grace_start_s)
        view, plan_key = self._view(records, states, fleet, now_s)
        silence_due_s = next_transition_s(
            (r.facts for r in records), now_s, self.timeouts, self._grace_start_s
        )
        held_until = self._hold_placement(records, states, now_s)
        self._next_due_s = self._next_due(silence_due_s, fleet, now_s)
        self._cooldown_end_s = self._cooldown_end(fleet, now_s)
        replan = plan_key != self._last_plan_key and held_until is None
        # Process-wide, on purpose: the cyclic GC is off while the plan lists up to a million
        # changes and they are retargeted (none can be garbage; see collector_pause).
        with collector_paused():
            decision = reconcile_fleet(view, states, self.settings.balance_policy(), replan=replan)
        # A quarantine move is made after balancing: the next plan may balance again.
        moved = _moved_for_quarantine(view, decision)
        self._last_plan_key = None if moved or held_until is not None else plan_key
        write: TickWrite | None = tick_write(now, decision, rows, fleet, sync)
        if write is not None and is_noop(write, self._generation):
            write = None
        return decision, write, view.generation

    def _hold_placement(
        self, records: list[InstanceRecord], states: dict[str, InstanceState], now_s: float
    ) -> float | None:
        """Cold start: when the first plan may be made (None: now). See core/cold_start.py."""
        accepting = {
            r.spec.id for r in records if states[r.spec.id].is_live and not r.spec.draining
        }
        held_until = self._joins.hold_until(accepting, not self._holdings, now_s)
        if held_until is not None and self._placement_held_until is None:
            log.info(
                "[BALANCE] cold start: %d instances so far; placing streams waits until none "
                "has registered for %gs (at most %gs)",
                len(accepting),
                self._joins.policy.quiet_s,
                self._joins.policy.max_s,
            )
        self._placement_held_until = held_until
        return held_until

    def _next_due(self, silence_due_s: float | None, fleet: FleetRow, now_s: float) -> float:
        """The next wall-clock moment a tick would decide differently with no new report: the
        source sync, the end of a rebalance cooldown or of a cold-start hold, or
        `silence_due_s` (some instance's silence crossing a threshold; None: none can)."""
        due = [self.syncer.next_sync_s, self._cooldown_end(fleet, now_s)]
        for moment in (silence_due_s, self._placement_held_until):
            if moment is not None:
                due.append(moment)
        return min(due)

    def _cooldown_end(self, fleet: FleetRow, now_s: float) -> float:
        """When the rebalance cooldown running now ends (infinity: none is running)."""
        last = fleet.last_rebalance_at
        if last is not None and last.timestamp() + self.settings.rebalance_cooldown > now_s:
            return float(last.timestamp() + self.settings.rebalance_cooldown)
        return math.inf

    async def _notify_observers(self, facts: TickFacts) -> None:
        for observer in self.observers:
            try:
                await observer(facts)
            except Exception:
                log.exception("[ERROR] a tick observer failed; the monitor goes on")

    def _apply_sync(self, sync: SourceSync) -> None:
        # Streams whose URL, name or metadata changed: their owners get a new generation.
        self._refreshed = self._refreshed | {s.id for s in sync.upsert if s.id in self._streams}
        if sync.changed:
            self._streams_version += 1
        for stream_id in sync.delete:
            self._streams.pop(stream_id, None)
        for stream in sync.upsert:
            self._streams[stream.id] = stream

    def _view(
        self,
        records: list[InstanceRecord],
        states: dict[str, InstanceState],
        fleet: FleetRow,
        now_s: float,
    ) -> tuple[FleetView, object]:
        last = fleet.last_rebalance_at
        since_s = None if last is None else max(0.0, now_s - last.timestamp())
        requested = fleet.rebalance_requested_at is not None
        cooldown_over = since_s is None or since_s >= self.settings.rebalance_cooldown
        view = FleetView(
            instances=records,
            holdings=self._holdings,
            streams=self._stream_specs(),
            generation=self._generation,
            seconds_since_last_rebalance=since_s,
            rebalance_requested=requested,
            refreshed_streams=self._refreshed,
            handoffs=self._handoffs,
            move_away=self._move_away,
        )
        specs = tuple(
            (
                r.spec.id,
                r.spec.max_streams,
                states[r.spec.id],
                r.spec.draining,
                r.spec.location,
                r.spec.performance_score,
            )
            for r in records
        )
        # The plan is a pure function of these inputs: skip it when none changed (guarantee 6).
        key = (
            specs,
            self._streams_version,
            requested,
            cooldown_over,
            tuple(self._move_away.items()),
        )
        return view, key

    def _stream_specs(self) -> list[StreamSpec]:
        """The planner's view of the streams, rebuilt only when a sync changed them."""
        if self._specs_version != self._streams_version:
            self._specs = stream_specs(self._streams.values())
            self._specs_version = self._streams_version
        return self._specs

    def _commit(self, decision: TickDecision) -> None:
        for stream_id, holding in decision.holdings.items():
            if holding is None:
                self._holdings.pop(stream_id, None)
            else:
                self._holdings[stream_id] = holding
            if holding is None or holding.holder == holding.target:
                self._handoffs.pop(stream_id, None)
            else:
                self._handoffs[stream_id] = holding
        self._generation = decision.generation

    def _previous_states(self, rows: list[InstanceRow]) -> dict[str, InstanceState]:
        return {row.id: row.state for row in rows}


def _moved_for_quarantine(view: FleetView, decision: TickDecision) -> bool:
    if not view.move_away or decision.plan is None:
        return False
    return any(c.reason is ChangeReason.QUARANTINE for c in decision.changes)
