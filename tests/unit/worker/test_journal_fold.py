"""The journal fold of recovery and standbys: the table it leaves equals the in-memory fold of
the same events, however the events fall into write chunks and however often its read cache is
dropped; a gap in ``seq`` is an error, events already folded are passed over."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coordinator.domain.commands import (
    Command,
    CreateGroup,
    RegisterPipeline,
    ReleaseReservation,
    ReportResourceUsage,
    RequestPreemption,
    ReserveResources,
    SetPipelineLabels,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.decider import Accepted, Context, decide
from coordinator.domain.events import Event
from coordinator.domain.model import PipelineStatus
from coordinator.domain.state import CoordinatorState, evolve
from coordinator.errors import RecoveryError
from coordinator.kafka.records import COMMAND_OFFSET_HEADER, Record
from coordinator.store.table import APPLIED, HEARTBEAT, StateTable
from coordinator.worker import recovery

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CAPACITY = 5


@pytest.fixture
def table() -> Iterator[StateTable]:
    with tempfile.TemporaryDirectory() as directory:
        opened = StateTable(Path(directory) / "state")
        yield opened
        opened.close()


def random_command(rng: random.Random) -> Command:
    pid = f"p{rng.randrange(12)}"
    roll = rng.random()
    command_id = f"c{rng.randrange(40)}" if rng.random() < 0.4 else None
    if roll < 0.1:  # what issue 12 added: groups, requests, reservations, labels, preemption
        return _admission_command(rng, pid)
    if roll < 0.25:
        return RegisterPipeline(pipeline_id=pid, name=f"n{pid}", command_id=command_id)
    if roll < 0.35:
        return UnregisterPipeline(pipeline_id=pid, command_id=command_id)
    if roll < 0.7:
        return UpdatePipelineStatus(
            pipeline_id=pid,
            status=rng.choice(list(PipelineStatus)),
            total_records=rng.randrange(1000),
            failed_records=rng.randrange(10),
            command_id=command_id,
        )
    return ReportResourceUsage(
        pipeline_id=pid,
        cpu_percent=round(rng.uniform(0, 50), 3),
        memory_mb=rng.randrange(4096),
        command_id=command_id,
    )


def _admission_command(rng: random.Random, pid: str) -> Command:
    group = rng.choice(["default", "g1"])
    match rng.randrange(6):
        case 0:
            return CreateGroup(group_id="g1", labels={"team": "a"})
        case 1:
            return RegisterPipeline(
                pipeline_id=pid, name=f"n{pid}", group=group, requested_cpu_percent=2.5
            )
        case 2:
            return ReserveResources(group=group, cpu_percent=0.0, memory_mb=64, ttl_seconds=3600)
        case 3:
            return ReleaseReservation(reservation_id=f"res-{rng.randrange(1, 200)}")
        case 4:
            return SetPipelineLabels(pipeline_id=pid, labels={"tier": rng.choice(["a", "b"])})
        case _:
            return RequestPreemption(pipeline_ids=[pid], reason="room")


def journal(seed: int, commands: int) -> tuple[list[Event], CoordinatorState]:
    """The events of ``commands`` random commands, and the in-memory fold of them."""
    rng = random.Random(seed)
    state = CoordinatorState.empty()
    events: list[Event] = []
    now = T0
    for _ in range(commands):
        now += timedelta(milliseconds=rng.randrange(1, 90_000))
        decision = decide(random_command(rng), state, Context(now=now))
        if isinstance(decision, Accepted):
            for event in decision.events:
                events.append(event)
                state = evolve(state, event, CAPACITY)
    return events, state


def records(events: list[Event], first_offset: int = 0) -> list[Record]:
    return [
        Record(
            offset=first_offset + position * 2,  # transaction markers take offsets too
            key=event.key.encode(),
            value=event.to_json(),
            headers=[("tag", b"x"), (COMMAND_OFFSET_HEADER, str(100 + position).encode())],
        )
        for position, event in enumerate(events)
    ]


def assert_table_holds(table: StateTable, state: CoordinatorState) -> None:
    assert {info.pipeline_id: info for info in table.pipelines_from(None)} == state.pipelines
    assert table.summary == state.summary
    assert {key[2:].decode() for key, _ in table.raw_items(APPLIED)} == set(state.applied_commands)
    for command_id, record in state.applied_commands.items():
        assert table.applied(command_id) == record
    assert {slot: table.ring_slot(slot) for slot in state.ring} == state.ring
    assert len(list(table.raw_items(HEARTBEAT))) == len(state.pipelines)
    for cutoff in (T0, T0 + timedelta(hours=2), T0 + timedelta(days=30)):
        assert table.count_stale(cutoff) == state.count_stale(cutoff)


@pytest.mark.parametrize(("chunk", "cache"), [(1, 10**6), (7, 10**6), (7, 3), (10**6, 10**6)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fold_leaves_what_the_in_memory_fold_holds(
    table: StateTable, monkeypatch: pytest.MonkeyPatch, chunk: int, cache: int, seed: int
) -> None:
    monkeypatch.setattr(recovery, "FOLD_CHUNK", chunk)
    monkeypatch.setattr(recovery, "FOLD_CACHE", cache)
    events, state = journal(seed, 400)
    assert len(events) > 150
    folded = recovery.JournalFold(table, CAPACITY).fold(records(events))
    assert folded == len(events)
    assert_table_holds(table, state)
    assert table.events_offset == (len(events) - 1) * 2
    assert table.meta.command_offset == 100 + len(events) - 1


def test_a_tail_folds_onto_a_table_that_holds_state(
    table: StateTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recovery, "FOLD_CHUNK", 11)
    events, state = journal(4, 500)
    journal_records = records(events)
    half = len(events) // 2
    assert recovery.JournalFold(table, CAPACITY).fold(journal_records[:half]) == half
    # The tail starts with the record the table was checked against: passed over, not refolded.
    tail = journal_records[half - 1 :]
    assert recovery.JournalFold(table, CAPACITY).fold(tail) == len(events) - half
    assert_table_holds(table, state)


def test_a_gap_in_seq_is_an_error_and_nothing_after_it_is_written(table: StateTable) -> None:
    events, _state = journal(5, 100)
    journal_records = records(events)
    del journal_records[30]
    with pytest.raises(RecoveryError, match=f"expected seq 31, found 32 at offset {31 * 2}"):
        recovery.JournalFold(table, CAPACITY).fold(journal_records)
    assert table.summary.seq < 31
