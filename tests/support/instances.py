"""Test-side helpers: an instance driven step by step over HTTP, and stream rows to monitor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from fingerv7.storage.migrate import upgrade_to_head
from tests.support.orchestrator import eventually


@dataclass
class ScriptedInstance:
    """A protocol client whose every step the test chooses (what it runs, when it beats)."""

    client: httpx.AsyncClient
    instance_id: str
    max_streams: int
    location: str | None = None
    running: set[int] = field(default_factory=set)
    generation: int = 0
    desired: set[int] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)  # more heartbeat fields (stream health)

    async def register(self) -> dict[str, Any]:
        response = await self.client.post(
            "/register",
            json={
                "instance_id": self.instance_id,
                "max_streams": self.max_streams,
                "capabilities": ["audio_fingerprinting"],
                "version": "test",
                "location": self.location,
            },
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def beat(self, status: str = "active") -> dict[str, Any]:
        """Report what runs now; remember what the orchestrator wants."""
        response = await self.client.post(
            "/heartbeat",
            json={
                "instance_id": self.instance_id,
                "status": status,
                "stream_ids": sorted(self.running),
                "generation": self.generation,
                "processed_count": 1,
            }
            | self.extra,
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        self.desired = {s["id"] for s in body["streams"]}
        self.last_generation_seen = body["generation"]
        return body

    async def follow(self) -> dict[str, Any]:
        """Beat, apply the desired set at once (as a well-behaved worker does), beat again."""
        body = await self.beat()
        self.running = set(self.desired)
        self.generation = body["generation"]
        return await self.beat()


def seed_streams(database_url: str, count: int, start: int = 1, **metadata: Any) -> list[int]:
    """Rows in the embedded `streams` table (manual's shape); creates the schema if needed."""
    upgrade_to_head(database_url)
    engine = create_engine(database_url)
    ids = list(range(start, start + count))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO streams (id, url, name, metadata, active) "
                "VALUES (:id, :url, :name, :metadata, :active)"
            ),
            [
                {
                    "id": i,
                    "url": f"http://127.0.0.1:9/radio-{i}",
                    "name": f"Radio {i}",
                    "metadata": _json(metadata),
                    "active": True,
                }
                for i in ids
            ],
        )
    engine.dispose()
    return ids


def set_stream_active(database_url: str, stream_id: int, active: bool) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE streams SET active = :active WHERE id = :id"),
            {"active": active, "id": stream_id},
        )
    engine.dispose()


def _json(value: dict[str, Any]) -> str:
    import json

    return json.dumps(value)


async def settle_fleet(*instances: ScriptedInstance, counts: list[int]) -> None:
    """Let every instance follow its assignment until they run `counts` streams each."""

    async def check() -> bool:
        for instance in instances:
            await instance.follow()
        return [len(i.running) for i in instances] == counts

    await eventually(check, what=f"distribution {counts}")


async def register_instances(
    client: httpx.AsyncClient, capacities: dict[str, int]
) -> list[ScriptedInstance]:
    """One registered ScriptedInstance per `{instance_id: max_streams}`, in that order."""
    instances = [ScriptedInstance(client, name, size) for name, size in capacities.items()]
    for instance in instances:
        await instance.register()
    return instances
