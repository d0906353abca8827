"""A small fleet for the dashboard to show, and the keys the tests configure."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from tests.support.instances import ScriptedInstance, seed_streams, settle_fleet
from tests.support.orchestrator import RunningOrchestrator, eventually

ADMIN_KEY = "admin-key-for-tests"
API_KEY = "api-key-for-tests"
StartOrchestrator = Callable[..., Awaitable[RunningOrchestrator]]
# Scripted instances beat only when told; these keep a settled fleet ACTIVE while the page looks.
STEADY_TIMEOUTS = {
    "heartbeat_warning_threshold": 30,
    "heartbeat_timeout": 60,
    "instance_removal_timeout": 120,
}


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'orchestrator.db'}"


async def start_fleet(
    orchestrator: RunningOrchestrator,
    database_url: str,
    sizes: list[int],
    streams: int,
    location: str | None = "eu-west",
) -> list[ScriptedInstance]:
    """Seed `streams` streams, register one scripted instance per size, let them settle."""
    await asyncio.to_thread(seed_streams, database_url, streams)
    instances = [
        ScriptedInstance(orchestrator.client, f"fingerv7-{n:03d}", size, location=location)
        for n, size in enumerate(sizes, start=1)
    ]
    for instance in instances:
        await instance.register()
    per_instance = streams // len(sizes)
    await settle_fleet(*instances, counts=[per_instance] * len(sizes))

    async def views_caught_up() -> bool:
        """Reports are stored in batches: wait until the views show what the instances run."""
        shown = (await orchestrator.client.get("/instances")).json()["instances"]
        return all(i["status"] == "active" and i["current_streams"] for i in shown)

    await eventually(views_caught_up, what="the fleet shown active with its streams")
    return instances
