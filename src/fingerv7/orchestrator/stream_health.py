"""Stream health at the orchestrator: the latest report per stream, shared through its own table.

Heartbeats carry each worker's view of its streams (optional fields, see health_reports.py).
This component keeps the newest report per stream in memory and writes a row only when the report
starts a new episode (another state, another instance, or a new `since` from the worker), so a
steady fleet writes nothing and other orchestrator processes still see every change. Views judge
each stream from that, who holds it and whether the holder is alive (core/stream_health.py).

Its own loop evaluates the stream alerts on the leader: `StreamDown`, `StreamSilent` and
`StreamsDownShare`, sent through the same webhooks as the fleet alerts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from fingerv7.core.alerting import AlertEvaluator, AlertEvent
from fingerv7.core.planning.model import InstanceState
from fingerv7.core.stream_health import (
    WORKER_STATES,
    InstanceFacts,
    ReportedHealth,
    StreamAlertThresholds,
    StreamHealth,
    StreamHealthSnapshot,
    StreamState,
    judge,
    stream_rules,
)
from fingerv7.orchestrator.health_reports import StreamHealthIn, WorkerHealthIn
from fingerv7.orchestrator.settings import OrchestratorSettings
from fingerv7.storage.fleet_rows import StreamOwnership
from fingerv7.storage.stream_health_store import (
    InstanceHealthRow,
    StreamHealthRow,
    StreamHealthStore,
)

log = logging.getLogger("fingerv7.orchestrator")

Ownership = list[StreamOwnership]
FleetFacts = tuple[dict[str, InstanceFacts], Ownership]
JUDGE_INLINE_BELOW = 2_000  # streams; more are judged off the event loop
_TIMES = ("last_audio_at", "last_identified_at")


class StreamHealthBook:
    """Latest stream health, in memory and (on change) in the `stream_health` table."""

    def __init__(self, store: StreamHealthStore, settings: OrchestratorSettings) -> None:
        self.store = store
        self.settings = settings
        self.thresholds = StreamAlertThresholds(
            down_s=settings.stream_down_alert_seconds,
            silent_s=settings.stream_silent_alert_seconds,
            down_share=settings.streams_down_share_alert,
        )
        # stream → (heard at, instance, its report as received)
        self._memory: dict[int, tuple[datetime, str, StreamHealthIn]] = {}
        self._written: dict[
            int, tuple[str, str, datetime]
        ] = {}  # stream → (instance, state, since)
        self._problems_written: dict[str, tuple[str | None, tuple[str, ...], datetime | None]] = {}
        self.evaluator: AlertEvaluator[StreamHealthSnapshot] = AlertEvaluator(
            stream_rules(self.thresholds), cooldown_s=settings.alert_cooldown_seconds
        )

    # --- the heartbeat hook ----------------------------------------------------------------

    async def record(
        self,
        instance_id: str,
        streams: Sequence[StreamHealthIn] | None,
        worker: WorkerHealthIn | None,
        now: datetime,
    ) -> None:
        """Remember one heartbeat's health; write what started a new episode. Never raises:
        a heartbeat must not fail because stream health could not be stored."""
        changed = [row for item in streams or () if (row := self._remember(instance_id, item, now))]
        problems = self._worker_change(instance_id, worker, now)
        if not changed and problems is None:
            return
        try:
            await self.store.write(changed, [problems] if problems else [])
        except Exception as error:
            log.warning("[STREAM] could not store stream health (%s); retried next beat", error)
            for row in changed:
                self._written.pop(row.stream_id, None)
            self._problems_written.pop(instance_id, None)

    def _remember(
        self, instance_id: str, item: StreamHealthIn, now: datetime
    ) -> StreamHealthRow | None:
        """Keep the report as it came (cheap: a heartbeat may carry a thousand); build a row
        only when it starts a new episode."""
        self._memory[item.stream_id] = (now, instance_id, item)
        state = WORKER_STATES[item.state].value
        written = self._written.get(item.stream_id)
        if (
            written is not None
            and written[:2] == (instance_id, state)
            and (item.since is None or written[2] == item.since)
        ):
            return None
        since = item.since or now
        self._written[item.stream_id] = (instance_id, state, since)
        detail = _detail(item, now, mode="json")
        return StreamHealthRow(item.stream_id, instance_id, state, since, detail, now)

    def _worker_change(
        self, instance_id: str, worker: WorkerHealthIn | None, now: datetime
    ) -> InstanceHealthRow | None:
        if worker is None:
            return None
        key = (worker.processor, tuple(worker.problems), worker.since)
        if self._problems_written.get(instance_id) == key:
            return None
        self._problems_written[instance_id] = key
        if worker.problems:
            log.error("[INSTANCE] %s reports: %s", instance_id, "; ".join(worker.problems))
        return InstanceHealthRow(instance_id, worker.processor, list(worker.problems), now)

    # --- views -----------------------------------------------------------------------------

    async def judge_all(
        self, instances: Mapping[str, InstanceFacts], ownership: Ownership
    ) -> list[StreamHealth]:
        """Every stream's health: the freshest report (this process's memory or the table),
        judged against who holds the stream and whether that instance is alive.

        A fleet's worth (100,000 streams) is judged in a worker thread, so the event loop
        keeps answering heartbeats meanwhile."""
        stored = await self.store.streams()

        def judge_each() -> list[StreamHealth]:
            return [
                judge(stream_id, holder or target, instances, self._freshest(stream_id, stored))
                for stream_id, target, holder in ownership
            ]

        if len(ownership) < JUDGE_INLINE_BELOW:
            return judge_each()
        return await asyncio.to_thread(judge_each)

    def _freshest(
        self, stream_id: int, stored: dict[int, StreamHealthRow]
    ) -> ReportedHealth | None:
        remembered = self._memory.get(stream_id)
        row = stored.get(stream_id)
        if remembered is not None and (row is None or remembered[0] >= row.updated_at):
            heard, instance_id, item = remembered
            written = self._written.get(stream_id)
            since = item.since or (written[2] if written else heard)
            state = WORKER_STATES[item.state]
            return _reported(instance_id, state, since, _detail(item, heard, mode="python"))
        if row is None:
            return None
        state = StreamState(row.state)
        return _reported(row.instance_id, state, row.since or row.updated_at, dict(row.detail))

    async def problems(self) -> dict[str, InstanceHealthRow]:
        """Instance → what its worker says stops it doing its job (only instances with some)."""
        return {k: v for k, v in (await self.store.instances()).items() if v.problems}

    def down_too_long(self, healths: Sequence[StreamHealth], now: datetime) -> list[StreamHealth]:
        return [
            h
            for h in healths
            if h.state is not StreamState.UNASSIGNED and h.down_for_s(now) > self.thresholds.down_s
        ]

    def silent_too_long(self, healths: Sequence[StreamHealth], now: datetime) -> list[StreamHealth]:
        return [
            h
            for h in healths
            if "last_identified_at" in h.detail and h.silent_for_s(now) > self.thresholds.silent_s
        ]

    # --- alerts ----------------------------------------------------------------------------

    def evaluate(self, healths: Sequence[StreamHealth], now: datetime) -> list[AlertEvent]:
        events = self.evaluator.evaluate(StreamHealthSnapshot(now, tuple(healths)), now.timestamp())
        for event in events:
            log.warning("[ALERT] %s (%s): %s", event.rule, event.subject, event.status.value)
        return events


async def watch_stream_alerts(
    book: StreamHealthBook,
    facts: Callable[[], Awaitable[FleetFacts]],
    is_leader: Callable[[], bool],
    send: Callable[[list[AlertEvent]], None],
    every_s: float,
    review: Callable[[list[StreamHealth], datetime], Awaitable[None]] | None = None,
) -> None:
    """Evaluate the stream alerts every `every_s` on the leader, and hand the same judgement to
    `review` (the quarantine); a failing pass is logged with its traceback and the next one runs."""
    while True:
        await asyncio.sleep(every_s)
        if not is_leader():
            continue
        try:
            instances, ownership = await facts()
            healths = await book.judge_all(instances, ownership)
            now = datetime.now(UTC)
            # 100,000 judgements through the rules: CPU work, off the loop (this task is the
            # evaluator's only caller, so its state is never touched from two threads).
            events = await asyncio.to_thread(book.evaluate, healths, now)
            if review is not None:
                await review(healths, now)
        except Exception:
            log.exception("[ERROR] [STREAM] stream alert evaluation failed; retrying")
            continue
        if events:
            send(events)


class _InstanceLike(Protocol):
    """What the judge needs of an instance row (the API's and the monitor's rows both have it)."""

    @property
    def id(self) -> str: ...
    @property
    def state(self) -> InstanceState: ...
    @property
    def last_seen_at(self) -> datetime: ...
    @property
    def reported_stream_ids(self) -> Iterable[int]: ...


def instance_facts(rows: Iterable[_InstanceLike]) -> dict[str, InstanceFacts]:
    """The judge's view of instance rows."""
    return {
        r.id: InstanceFacts(r.state, r.last_seen_at, frozenset(r.reported_stream_ids)) for r in rows
    }


def _detail(item: StreamHealthIn, heard: datetime, *, mode: str) -> dict[str, Any]:
    detail = item.model_dump(mode=mode, exclude={"stream_id", "state", "since"}, exclude_none=True)
    detail["reported_at"] = heard.isoformat() if mode == "json" else heard
    return detail


def _reported(
    instance_id: str, state: StreamState, since: datetime, detail: dict[str, Any]
) -> ReportedHealth:
    detail = dict(detail)  # the caller's copy may be stored as JSON: keep it JSON
    for name in _TIMES:
        if isinstance(detail.get(name), str):
            detail[name] = datetime.fromisoformat(detail[name])
    return ReportedHealth(instance_id, state, since, detail)
