"""The wire schemas are written twice, once per side; this fails as soon as they drift.

`fingerv7.api.schemas` is what the orchestrator accepts and answers, `fingerv7.worker.messages`
what a worker sends and reads back (docs/protocol.md). Each pair is checked both ways: field
names, and a realistic message of one side validated by the other with no value lost.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from fingerv7.api import schemas as api
from fingerv7.worker import messages as worker

NOW = datetime(2025, 8, 26, 22, 0, tzinfo=UTC)

# What a worker sends → what the orchestrator accepts.
SENT = [
    worker.RegisterRequest(
        instance_id="fingerv7-001", max_streams=50, version="0.1.0", location="sp"
    ),
    worker.HeartbeatRequest(
        instance_id="fingerv7-001",
        timestamp=NOW,
        status="active",
        current_streams=2,
        processed_count=10,
        error_count=1,
        cpu_usage=12.5,
        memory_usage=40.0,
        last_activity=NOW,
        stream_ids=[3, 7],
        generation=4,
    ),
]
ACCEPTED_BY = {
    worker.RegisterRequest: api.RegisterRequest,
    worker.HeartbeatRequest: api.HeartbeatRequest,
}

STREAM = api.StreamOut(id=7, url="http://r/7", name="Sete", metadata={"regiao": "Sul"})
# What the orchestrator answers → what a worker reads.
ANSWERED = [
    api.RegisterResponse(
        instance_id="fingerv7-001",
        assigned_streams=1,
        heartbeat_interval=30,
        next_assignment_check=NOW,
        generation=4,
    ),
    api.HeartbeatResponse(
        next_heartbeat=NOW,
        generation=4,
        streams=[STREAM],
        commands=[api.StreamCommand(stream_id=7, action="add")],
    ),
    api.AssignmentResponse(instance_id="fingerv7-001", generation=4, streams=[STREAM]),
    STREAM,
    api.StreamCommand(stream_id=7, action="remove"),
]
READ_BY = {
    api.RegisterResponse: worker.RegisterAnswer,
    api.HeartbeatResponse: worker.HeartbeatAnswer,
    api.AssignmentResponse: worker.AssignmentAnswer,
    api.StreamOut: worker.StreamEntry,
    api.StreamCommand: worker.Command,
}


def _required(model: type[BaseModel]) -> set[str]:
    return {name for name, field in model.model_fields.items() if field.is_required()}


def _shared_values(one: BaseModel, other: BaseModel) -> tuple[dict[str, object], ...]:
    shared = set(type(one).model_fields) & set(type(other).model_fields)
    return tuple(model.model_dump(mode="json", include=shared) for model in (one, other))


def test_the_same_capability_is_required_on_both_sides() -> None:
    assert worker.REQUIRED_CAPABILITY == api.REQUIRED_CAPABILITY


@pytest.mark.parametrize("message", SENT, ids=lambda m: type(m).__name__)
def test_the_orchestrator_accepts_every_field_a_worker_sends(message: BaseModel) -> None:
    accepted = ACCEPTED_BY[type(message)]
    assert set(type(message).model_fields) <= set(accepted.model_fields)
    assert _required(accepted) <= set(type(message).model_fields)

    parsed = accepted.model_validate(message.model_dump(mode="json"))

    sent, received = _shared_values(message, parsed)
    assert received == sent


@pytest.mark.parametrize("answer", ANSWERED, ids=lambda m: type(m).__name__)
def test_a_worker_reads_every_field_it_needs_from_the_orchestrators_answer(
    answer: BaseModel,
) -> None:
    read = READ_BY[type(answer)]
    assert set(read.model_fields) <= set(type(answer).model_fields)

    parsed = read.model_validate(answer.model_dump(mode="json"))

    sent, received = _shared_values(answer, parsed)
    assert received == sent


def test_every_pair_is_exercised() -> None:
    assert {type(message) for message in SENT} == set(ACCEPTED_BY)
    assert {type(answer) for answer in ANSWERED} == set(READ_BY)
