"""Registrations are grouped while a write is in flight, and every caller gets its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fingerv7.core.planning.model import InstanceState
from fingerv7.orchestrator.registration_intake import RegistrationIntake
from fingerv7.storage.fleet_rows import InstanceRow, Registered, Registration
from fingerv7.storage.report_store import DesiredSet


def _registration(instance_id: str, max_streams: int = 5) -> Registration:
    return Registration(instance_id, max_streams, ["audio_fingerprinting"], None, None)


class RecordingStore:
    """Writes batches into a dict; a batch waits for `release` when `hold` is set."""

    def __init__(self, *, hold: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        if not hold:
            self.release.set()
        self.started = asyncio.Event()
        self.fail_next = False

    async def register_many(self, batch: Sequence[Registration]) -> dict[str, Registered]:
        self.batches.append([r.instance_id for r in batch])
        self.started.set()
        await self.release.wait()
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("database away")
        return {r.instance_id: _registered(r) for r in batch}


def _registered(registration: Registration) -> Registered:
    row = InstanceRow(
        id=registration.instance_id,
        state=InstanceState.REGISTERED,
        draining=False,
        max_streams=registration.max_streams,
        capabilities=tuple(registration.capabilities),
        version=None,
        location=None,
        performance_score=1.0,
        registered_at=None,  # type: ignore[arg-type]
        last_seen_at=None,  # type: ignore[arg-type]
        generation=7,
        reported_stream_ids=(),
        stats={},
    )
    return Registered(row, DesiredSet(7, []))


async def test_a_lone_registration_is_written_at_once():
    store = RecordingStore()
    intake = RegistrationIntake(store.register_many)
    registered = await intake.register(_registration("a", 3))
    assert registered.row.id == "a" and registered.row.max_streams == 3
    assert store.batches == [["a"]]


async def test_registrations_arriving_during_a_write_go_together_in_the_next():
    store = RecordingStore(hold=True)
    intake = RegistrationIntake(store.register_many)
    first = asyncio.create_task(intake.register(_registration("first")))
    await store.started.wait()  # the first write is in flight
    later = [asyncio.create_task(intake.register(_registration(f"w{n}"))) for n in range(5)]
    await asyncio.sleep(0)  # let them queue
    store.release.set()
    answers = await asyncio.gather(first, *later)
    assert [a.row.id for a in answers] == ["first", "w0", "w1", "w2", "w3", "w4"]
    assert store.batches == [["first"], ["w0", "w1", "w2", "w3", "w4"]]


async def test_batches_are_bounded():
    store = RecordingStore(hold=True)
    intake = RegistrationIntake(store.register_many, max_batch=2)
    first = asyncio.create_task(intake.register(_registration("first")))
    await store.started.wait()
    later = [asyncio.create_task(intake.register(_registration(f"w{n}"))) for n in range(5)]
    await asyncio.sleep(0)
    store.release.set()
    await asyncio.gather(first, *later)
    assert store.batches == [["first"], ["w0", "w1"], ["w2", "w3"], ["w4"]]


async def test_one_id_twice_in_a_batch_answers_both_callers():
    store = RecordingStore(hold=True)
    intake = RegistrationIntake(store.register_many)
    first = asyncio.create_task(intake.register(_registration("first")))
    await store.started.wait()
    twice = [asyncio.create_task(intake.register(_registration("dup", n))) for n in (4, 9)]
    await asyncio.sleep(0)
    store.release.set()
    await first
    # The store keeps the later registration of an id (FleetStore.register_many's rule).
    assert [a.row.id for a in await asyncio.gather(*twice)] == ["dup", "dup"]


async def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_still_goes():
    store = RecordingStore(hold=True)
    store.fail_next = True
    intake = RegistrationIntake(store.register_many)
    failing = [asyncio.create_task(intake.register(_registration(f"f{n}"))) for n in range(3)]
    await store.started.wait()
    store.release.set()
    outcomes = await asyncio.gather(*failing, return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert (await intake.register(_registration("after"))).row.id == "after"
    assert store.batches[-1] == ["after"]


async def test_a_caller_that_went_away_does_not_break_its_batch():
    store = RecordingStore(hold=True)
    intake = RegistrationIntake(store.register_many)
    gone = asyncio.create_task(intake.register(_registration("gone")))
    stays = asyncio.create_task(intake.register(_registration("stays")))
    await store.started.wait()
    gone.cancel()
    store.release.set()
    assert (await stays).row.id == "stays"
    assert gone.cancelled()
