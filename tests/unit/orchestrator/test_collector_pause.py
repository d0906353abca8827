"""The cyclic collector is paused by the orchestrator around planning, never by the pure core."""

from __future__ import annotations

import ast
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from fingerv7.core.planning import InstanceSpec, InstanceState, StreamSpec, plan_assignment
from fingerv7.orchestrator.collector_pause import collector_paused

CORE = Path(__file__).resolve().parents[3] / "src" / "fingerv7" / "core"


@pytest.fixture
def collector_enabled() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.enable()
    yield
    if not was_enabled:
        gc.disable()


def test_the_collector_is_off_inside_and_back_on_after(collector_enabled: None) -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_is_back_on_after_an_error(collector_enabled: None) -> None:
    with pytest.raises(ZeroDivisionError), collector_paused():
        _ = 1 / 0
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        if was_enabled:
            gc.enable()


def test_planning_leaves_the_collector_alone(collector_enabled: None) -> None:
    """The core lists a plan's changes with the collector as the caller left it (here: on)."""
    streams = [StreamSpec(i) for i in range(1, 20_001)]
    fleet = [InstanceSpec(f"w{i}", 5_000, InstanceState.ACTIVE) for i in range(4)]
    plan = plan_assignment(streams, fleet, {})
    collections: list[str] = []

    def count(phase: str, info: dict[str, int]) -> None:
        collections.append(phase)

    gc.callbacks.append(count)
    try:
        changes = plan.changes  # 20,000 new tuples, built on this first read
    finally:
        gc.callbacks.remove(count)

    assert len(changes) == 20_000
    assert gc.isenabled()
    # The collector ran while they were built (about one young collection per 700 new tuples);
    # a core that paused it would show none.
    assert collections.count("start") >= 5


def test_no_core_module_imports_gc() -> None:
    importing = [
        path.relative_to(CORE)
        for path in sorted(CORE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Import) and any(alias.name == "gc" for alias in node.names)
    ]
    assert importing == []
