"""The baseline of bench_intake.py: a bare FastAPI endpoint that parses the same heartbeat body
(the orchestrator's own request model) and answers a fixed small JSON, nothing else."""

from __future__ import annotations

from fastapi import FastAPI

from fingerv7.api.schemas import HeartbeatRequest

app = FastAPI()


@app.post("/heartbeat")
async def heartbeat(body: HeartbeatRequest) -> dict[str, object]:
    return {"status": "acknowledged", "generation": body.generation, "streams": []}
