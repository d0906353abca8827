"""Every orchestrator series a Grafana panel queries has samples once the fleet has done its job
(a panel that can never show anything is a bug, as the database latency panel was)."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.instances import ScriptedInstance, seed_streams, settle_fleet
from tests.support.orchestrator import eventually
from tests.unit.deploy.contract import DEPLOY, HISTOGRAMS, ORCHESTRATOR_METRICS
from tests.unit.deploy.promql import series_names

pytestmark = pytest.mark.integration

ORCHESTRATOR_SERIES = ORCHESTRATOR_METRICS | {
    f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")
}


def panel_series() -> set[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "fingerv7-dashboard.json").read_text())
    return {
        name
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for name in series_names(target["expr"])
        if name in ORCHESTRATOR_SERIES
    }


def sampled(exposition: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^([a-zA-Z0-9_:]+)(?:\{[^}]*\})? ", exposition, re.M)}


async def test_each_panels_orchestrator_series_has_samples(tmp_path, start_orchestrator):
    database_url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    seed_streams(database_url, 4)
    orch = await start_orchestrator(database_url=database_url)
    first, second = ScriptedInstance(orch.client, "w1", 4), ScriptedInstance(orch.client, "w2", 4)
    await first.register()
    await second.register()
    await settle_fleet(first, second, counts=[2, 2])

    async def failed_over() -> bool:  # w1 falls silent; its streams fail over to w2
        await second.follow()
        return len(second.running) == 4

    await eventually(failed_over, what="w1's streams on w2")
    assert (await orch.client.get("/health")).status_code == 200
    exposition = (await orch.client.get("/metrics/prometheus")).text

    missing = panel_series() - sampled(exposition)
    assert panel_series(), "the dashboard queries no orchestrator series: nothing was checked"
    assert missing == set()
