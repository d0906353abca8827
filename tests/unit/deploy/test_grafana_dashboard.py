"""deploy/grafana: the dashboard parses and queries only metrics the code exposes."""

from __future__ import annotations

import json
from typing import Any

from .contract import DEPLOY, KNOWN_SERIES
from .promql import series_names

DASHBOARD: dict[str, Any] = json.loads(
    (DEPLOY / "grafana" / "fingerv7-dashboard.json").read_text(encoding="utf-8")
)


def _targets() -> list[dict[str, Any]]:
    return [
        target
        for panel in DASHBOARD["panels"]
        for target in panel.get("targets", [])
        if panel["type"] != "row"
    ]


def test_dashboard_identity_and_datasource_variable() -> None:
    assert DASHBOARD["uid"] == "fingerv7-fleet"
    assert DASHBOARD["title"] == "FingerV7"
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"


def test_queries_read_only_known_series() -> None:
    used: set[str] = set()
    for target in _targets():
        names = series_names(target["expr"])
        assert names, target["expr"]
        used |= names

    assert used <= KNOWN_SERIES
    # Every orchestrator gauge an operator looks at first is on the page.
    assert {
        "fingerv7_instances",
        "fingerv7_streams",
        "fingerv7_capacity_streams",
        "fingerv7_imbalance_ratio",
        "fingerv7_worker_streams_running",
    } <= used


def test_panel_ids_are_unique_and_panels_use_the_datasource_variable() -> None:
    ids = [panel["id"] for panel in DASHBOARD["panels"]]

    assert len(ids) == len(set(ids))
    for panel in DASHBOARD["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
