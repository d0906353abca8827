"""Freeze detection: the lease turns invalid the moment the clock jumps, before any tick runs."""

from __future__ import annotations

from fingerv7.worker.watchdog import FreezeWatchdog, freeze_limit_s


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_gap_longer_than_the_limit_fences_until_the_handler_is_done() -> None:
    clock = ManualClock()
    calls: list[tuple[float, float, bool]] = []

    async def on_freeze(gap_from: float, gap_to: float) -> None:
        calls.append((gap_from, gap_to, watchdog.lease_valid()))

    watchdog = FreezeWatchdog(2.0, on_freeze, clock=clock)
    clock.now += 1.5
    await watchdog.check()
    assert watchdog.lease_valid() and calls == []
    clock.now += 2.5  # frozen: nobody ticked
    assert not watchdog.lease_valid()  # invalid before the watchdog even runs
    await watchdog.check()
    assert calls == [(1001.5, 1004.0, False)]  # fenced while the handler stops streams
    assert watchdog.lease_valid() and not watchdog.fenced
    assert watchdog.freezes_detected == 1


async def test_regular_ticks_never_fence() -> None:
    clock = ManualClock()

    async def on_freeze(gap_from: float, gap_to: float) -> None:
        raise AssertionError("no freeze expected")

    watchdog = FreezeWatchdog(1.0, on_freeze, clock=clock)
    for _ in range(100):
        clock.now += 0.9
        await watchdog.check()
    assert watchdog.freezes_detected == 0


def test_limit_leaves_room_for_the_last_heartbeat() -> None:
    assert freeze_limit_s(heartbeat_interval_s=60, heartbeat_timeout_s=180) == 120
    assert freeze_limit_s(heartbeat_interval_s=1, heartbeat_timeout_s=3) == 2
    assert freeze_limit_s(heartbeat_interval_s=1, heartbeat_timeout_s=1.5) == 1.0  # floor
