"""A small fleet against a real orchestrator process on PostgreSQL (benchmarks/bench_fleet.py is
the large version): every stream runs, no live instance is ever declared WARNING or INACTIVE, no
stream is run twice, and after 1% of the instances die their streams run elsewhere."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import httpx
import pytest

from tests.support.fleet_sim import Ledger, Orchestrator, SimInstance, StateWatch, wait_until
from tests.support.instances import seed_streams
from tests.support.orchestrator import free_port

pytestmark = pytest.mark.acceptance

STREAMS = 2_000
INSTANCES = 200
INTERVAL_S = 2.0
TIMEOUT_S = 10.0


@pytest.mark.timeout(150)
async def test_two_hundred_instances_converge_and_fail_over(pg_url: str, tmp_path: Path) -> None:
    seed_streams(pg_url, STREAMS)
    env = os.environ | {
        "DATABASE_URL": pg_url.replace("postgresql+psycopg", "postgresql"),
        "HEARTBEAT_INTERVAL": str(INTERVAL_S),
        "HEARTBEAT_WARNING_THRESHOLD": str(TIMEOUT_S / 2),
        "HEARTBEAT_TIMEOUT": str(TIMEOUT_S),
        "LOG_LEVEL": "WARNING",
    }
    orchestrator = Orchestrator(env, free_port(), tmp_path / "orchestrator.log")
    ledger = Ledger(STREAMS)
    watch = StateWatch(env["DATABASE_URL"])
    try:
        assert await wait_until(lambda: _serving(orchestrator.url), 60) is not None
        fleet = {
            f"drill-{n:03d}": SimInstance(
                orchestrator.url, ledger, f"drill-{n:03d}", 15, INTERVAL_S
            )
            for n in range(INSTANCES)
        }
        watching = asyncio.create_task(watch.run(fleet))
        for instance in fleet.values():
            instance.start()
        covered_s = await wait_until(lambda: ledger.covered, 60)
        assert covered_s is not None, f"{len(ledger.owner)} of {STREAMS} streams run"

        await asyncio.sleep(3 * INTERVAL_S)  # steady beats: nobody may look late
        victims = random.sample(list(fleet.values()), INSTANCES // 100)
        for victim in victims:
            await victim.die()
        assert not ledger.covered
        failover_s = await wait_until(lambda: ledger.covered, TIMEOUT_S + 30)
        assert failover_s is not None, "the dead instances' streams were not re-granted"

        for instance in fleet.values():
            await instance.die()
        watch.stop = True
        await watching
    finally:
        orchestrator.stop()
    assert watch.flagged == {}, "live instances declared WARNING/INACTIVE"
    assert ledger.double_ownerships == 0
    assert ledger.errors == {}
    log = (tmp_path / "orchestrator.log").read_text()
    assert "Traceback" not in log, log[-3000:]


def _serving(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code < 500
    except httpx.HTTPError:
        return False
