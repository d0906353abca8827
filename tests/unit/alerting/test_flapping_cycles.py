"""InstanceFlapping counts ACTIVE <-> INACTIVE cycles, not every lifecycle transition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fingerv7.core.planning.model import InstanceState
from fingerv7.core.reconcile import TickDecision
from fingerv7.orchestrator.metrics import OrchestratorMetrics
from fingerv7.orchestrator.settings import OrchestratorSettings
from fingerv7.orchestrator.tick_observers import AlertObserver, TickFacts
from fingerv7.storage.tick_store import TickWrite

START = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CRASH_AND_RESTART = [
    InstanceState.WARNING,
    InstanceState.INACTIVE,
    InstanceState.RECOVERING,
    InstanceState.ACTIVE,
]


def facts(now: datetime, state: InstanceState) -> TickFacts:
    states = {"w1": state, "w2": InstanceState.ACTIVE}
    write = TickWrite(
        now=now,
        generation=1,
        states=states,
        state_changed=["w1"],
        changed_instances=[],
        removed_instances=[],
        holdings={},
        changes=[],
    )
    return TickFacts(now, TickDecision(states=states), write, [], True)


async def run(observer: AlertObserver, cycles: int) -> list[str]:
    now = START
    for _ in range(cycles):
        for state in CRASH_AND_RESTART:
            now += timedelta(seconds=20)
            await observer(facts(now, state))
    return [event.rule for event in observer.evaluator.firing()]


async def test_one_crash_and_restart_is_not_flapping() -> None:
    observer = AlertObserver(OrchestratorSettings(_env_file=None), OrchestratorMetrics())  # type: ignore[call-arg]
    assert "InstanceFlapping" not in await run(observer, cycles=1)
    assert "InstanceFlapping" not in await run(observer, cycles=3)  # four cycles in all


async def test_five_cycles_in_half_an_hour_are() -> None:
    observer = AlertObserver(OrchestratorSettings(_env_file=None), OrchestratorMetrics())  # type: ignore[call-arg]
    assert "InstanceFlapping" in await run(observer, cycles=5)
