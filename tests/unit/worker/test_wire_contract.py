"""The wire schemas are written twice, once per side; this fails as soon as they drift.

`fingerv7.api.schemas` is what the orchestrator accepts and answers, `fingerv7.worker.messages`
what a worker sends and reads back (docs/protocol.md). Each pair is checked both ways: field
names, and a realistic message of one side validated by the other with no value lost, first by
example, then over messages Hypothesis generates within what each side produces.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from fingerv7.api import schemas as api
from fingerv7.core.credentials import INSTANCE_ID_PATTERN
from fingerv7.orchestrator import health_reports
from fingerv7.worker import messages as worker
from fingerv7.worker import stream_health as worker_health

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
ACCEPTED_BY: dict[type[BaseModel], type[BaseModel]] = {
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
READ_BY: dict[type[BaseModel], type[BaseModel]] = {
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


# --- the same contract over generated messages ---------------------------------------------
# Each strategy draws what its side honestly produces: the worker's own bounds (an error cut to
# MAX_ERROR_CHARS, a song to 300 characters, at most 1000 streams), the orchestrator's types.
# Whitespace at either end is left out: the orchestrator strips it by design.

times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
counts = st.integers(min_value=0, max_value=api.MAX_INT64)
shares = st.floats(min_value=0, max_value=100)
words = st.text(string.ascii_letters + string.digits + "-_.", max_size=16)


def _texts(max_size: int) -> st.SearchStrategy[str]:
    """Any text up to `max_size` characters, and often exactly that many (where limits drift)."""
    visible = st.characters(exclude_categories=("Z", "C"))
    return st.text(max_size=max_size).map(str.strip) | st.text(
        visible, min_size=max_size, max_size=max_size
    )


stream_reports = st.builds(
    worker_health.StreamHealthReport,
    stream_id=counts,
    state=st.sampled_from(get_args(worker_health.ReportedState)),
    since=st.none() | times,
    last_error=st.none() | _texts(worker_health.MAX_ERROR_CHARS),
    codec=st.none() | words,
    bitrate_kbps=st.none() | st.integers(min_value=0, max_value=worker_health.MAX_BITRATE_KBPS),
    last_audio_at=st.none() | times,
    last_identified_at=st.none() | times,
    last_song=st.none() | _texts(300),
    identifications=counts,
)
heartbeats = st.builds(
    worker.HeartbeatRequest,
    instance_id=st.from_regex(INSTANCE_ID_PATTERN, fullmatch=True),
    timestamp=times,
    status=st.sampled_from(get_args(worker.InstanceStatus)),
    current_streams=st.integers(min_value=0, max_value=1000),
    processed_count=counts,
    error_count=counts,
    cpu_usage=shares,
    memory_usage=shares,
    last_activity=st.none() | times,
    stream_ids=st.lists(counts, max_size=20),
    generation=counts,
    stream_health=st.none() | st.lists(stream_reports, max_size=5),
    process_cpu_usage=st.none() | st.floats(min_value=0, max_value=6_400),
    process_memory_usage=st.none() | shares,
    worker_health=st.none()
    | st.builds(
        worker_health.WorkerHealthReport,
        processor=words,
        problems=st.lists(
            _texts(worker_health.MAX_ERROR_CHARS), max_size=worker_health.MAX_PROBLEMS
        ),
        since=st.none() | times,
    ),
    play_log=st.none()
    | st.builds(
        worker_health.PlayLogReport,
        plays_buffered=counts,
        oldest_age_seconds=st.floats(min_value=0, max_value=10**9),
        last_write_at=st.none() | times,
        unavailable=st.booleans(),
    ),
).filter(lambda beat: beat.status != "stopping" or not beat.stream_ids)

json_values = st.none() | st.booleans() | counts | words
streams_out = st.builds(
    api.StreamOut,
    id=counts,
    url=words.map(lambda path: f"http://radio.example/{path}"),
    name=_texts(64),
    metadata=st.dictionaries(words, json_values, max_size=4),
)
commands = st.builds(api.StreamCommand, stream_id=counts, action=st.sampled_from(["add", "remove"]))
answers = st.one_of(
    st.builds(
        api.RegisterResponse,
        instance_id=st.from_regex(INSTANCE_ID_PATTERN, fullmatch=True),
        assigned_streams=counts,
        heartbeat_interval=st.floats(min_value=1, max_value=3_600),
        next_assignment_check=times,
        generation=counts,
    ),
    st.builds(
        api.HeartbeatResponse,
        next_heartbeat=times,
        generation=counts,
        streams=st.lists(streams_out, max_size=5),
        commands=st.lists(commands, max_size=5),
    ),
    st.builds(
        api.AssignmentResponse,
        instance_id=st.from_regex(INSTANCE_ID_PATTERN, fullmatch=True),
        generation=counts,
        streams=st.lists(streams_out, max_size=5),
    ),
)

# The heartbeat's parts: the worker's report → the orchestrator's model of it.
PARTS = [
    (worker_health.StreamHealthReport, health_reports.StreamHealthIn),
    (worker_health.WorkerHealthReport, health_reports.WorkerHealthIn),
    (worker_health.PlayLogReport, api.PlayLogIn),
]


@pytest.mark.parametrize(("sent", "accepted"), PARTS, ids=lambda m: m.__name__)
def test_the_heartbeats_parts_have_the_same_fields_on_both_sides(
    sent: type[BaseModel], accepted: type[BaseModel]
) -> None:
    assert set(sent.model_fields) == set(accepted.model_fields)


@settings(max_examples=100, deadline=None)
@given(beat=heartbeats)
def test_any_heartbeat_a_worker_sends_is_accepted_as_sent(beat: worker.HeartbeatRequest) -> None:
    parsed = api.HeartbeatRequest.model_validate(beat.model_dump(mode="json"))

    sent, received = _shared_values(beat, parsed)
    assert received == sent


@settings(max_examples=100, deadline=None)
@given(answer=answers)
def test_any_answer_the_orchestrator_gives_is_read_as_given(answer: BaseModel) -> None:
    parsed = READ_BY[type(answer)].model_validate(answer.model_dump(mode="json"))

    sent, received = _shared_values(answer, parsed)
    assert received == sent
