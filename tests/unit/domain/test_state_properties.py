"""Properties of the decider over random command sequences (hypothesis).

Each example drives a fresh registry the way the worker does: decide the next command against the
current state, evolve the state with the events it emits, and keep the journal. Whatever the
sequence, the invariants of docs/protocol.md must hold after every step.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import given as for_all
from hypothesis import settings
from hypothesis import strategies as st

from coordinator.domain.codec import decode_event
from coordinator.domain.commands import (
    CAUSED_BY,
    CheckResourceAvailability,
    Command,
    GetPipelineInfo,
    GetSystemStatus,
    ListPipelines,
    RegisterPipeline,
    ReportResourceUsage,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.decider import Accepted, AlreadyApplied, decide
from coordinator.domain.events import Event
from coordinator.domain.model import MAX_LONG, PipelineStatus
from coordinator.domain.state import DEFAULT_APPLIED_CAPACITY, CoordinatorState, evolve, fold

from .support import T0, context

PIPELINE_IDS = ["a", "b", "c", "d"]
COMMAND_IDS = [f"k{n}" for n in range(30)]

pipeline_ids = st.sampled_from(PIPELINE_IDS)
command_ids = st.one_of(st.none(), st.sampled_from(COMMAND_IDS))
awkward_percentages = st.sampled_from([0.1, 0.2, 0.3, 33.3, 1e-300, 5e-324, 100.0])
refused_percentages = st.sampled_from([math.nan, math.inf, -0.5, 100.5])
refused_megabytes = st.sampled_from([MAX_LONG + 1, -1])
records = st.integers(min_value=0, max_value=120)


percentages = st.one_of(st.floats(min_value=0.0, max_value=100.0), awkward_percentages)
megabytes = st.one_of(st.integers(min_value=0, max_value=1 << 20), st.just(MAX_LONG))


@st.composite
def commands(draw: st.DrawFn) -> Command:
    envelope = {"command_id": draw(command_ids)}
    kind = draw(st.integers(min_value=0, max_value=9))
    pipeline_id = draw(pipeline_ids)
    if kind <= 2:
        name = draw(st.sampled_from(["Pipeline", "Événements", "Pipeline 2", "P", " "]))
        return RegisterPipeline(pipeline_id=pipeline_id, name=name, **envelope)
    if kind == 3:
        return UnregisterPipeline(pipeline_id=pipeline_id, **envelope)
    if kind <= 5:
        total = draw(records)
        failed_ceiling = total + 5 if draw(st.integers(min_value=0, max_value=9)) == 0 else total
        return UpdatePipelineStatus(
            pipeline_id=pipeline_id,
            status=draw(st.sampled_from(PipelineStatus)),
            total_records=total,
            failed_records=draw(st.integers(min_value=0, max_value=failed_ceiling)),
            **envelope,
        )
    if kind <= 7:
        # One report in ten breaks a rule, so that most get through to the state.
        refused = draw(st.integers(min_value=0, max_value=9)) == 0
        return ReportResourceUsage(
            pipeline_id=pipeline_id,
            cpu_percent=draw(refused_percentages if refused else percentages),
            memory_mb=draw(refused_megabytes if refused else megabytes),
            **envelope,
        )
    return draw(
        st.sampled_from(
            [
                CheckResourceAvailability(
                    estimated_cpu_percent=10.0, estimated_memory_mb=4096, **envelope
                ),
                GetSystemStatus(**envelope),
                GetPipelineInfo(pipeline_id=pipeline_id, **envelope),
                ListPipelines(limit=2, **envelope),
            ]
        )
    )


clock_steps = st.integers(min_value=-5_000_000, max_value=60_000_000).map(
    lambda micros: timedelta(microseconds=micros)
)
"""The sender-side clock wanders, and sometimes goes back."""

histories = st.lists(st.tuples(commands(), clock_steps), max_size=40)
capacities = st.sampled_from([1, 3, DEFAULT_APPLIED_CAPACITY])


@dataclass
class Run:
    """A registry driven like the worker drives it."""

    capacity: int
    state: CoordinatorState = field(default_factory=CoordinatorState.empty)
    journal: list[Event] = field(default_factory=list)
    ever_applied: set[str] = field(default_factory=set)
    now: datetime = T0

    def step(self, command: Command, clock_step: timedelta) -> None:
        self.now += clock_step
        before = self.state
        decision = decide(command, before, context(self.now))
        remembered = command.command_id is not None and before.applied(command.command_id)

        if remembered:
            assert isinstance(decision, AlreadyApplied)
        if command.command_id in self.ever_applied and self.capacity > len(COMMAND_IDS):
            assert not isinstance(decision, Accepted), "a duplicate commandId emitted events"
        if not isinstance(decision, Accepted):
            return

        (event,) = decision.events
        assert CAUSED_BY[event.type] == command.type
        assert event.command_id == command.command_id
        assert event.timestamp.microsecond % 1000 == 0
        assert before.summary.last_updated is None or event.timestamp >= before.summary.last_updated
        self.state = evolve(before, event, self.capacity)
        self.journal.append(event)
        if command.command_id is not None:
            self.ever_applied.add(command.command_id)


def run(history: list[tuple[Command, timedelta]], capacity: int) -> Run:
    driven = Run(capacity)
    for command, clock_step in history:
        driven.step(command, clock_step)
        check_invariants(driven.state, len(driven.journal))
    return driven


def check_invariants(state: CoordinatorState, events_so_far: int) -> None:
    pipelines = state.pipelines.values()
    summary = state.summary
    assert summary.seq == events_so_far
    assert summary.total_cpu_percent == math.fsum(p.cpu_percent for p in pipelines)
    assert summary.memory_mb_total == sum(p.memory_mb for p in pipelines)
    assert sum(summary.count_by_status.values()) == len(state.pipelines)
    assert {s: n for s, n in summary.count_by_status.items() if n} == Counter(
        p.status for p in pipelines
    )
    for pipeline_id, info in state.pipelines.items():
        assert info.pipeline_id == pipeline_id
        assert info.failed_records <= info.total_records
        assert 0.0 <= info.cpu_percent <= 100.0
        assert info.registered_at <= info.last_heartbeat
        assert summary.last_updated is not None
        assert info.last_heartbeat <= summary.last_updated


PROPERTY = settings(max_examples=120, deadline=None)


@PROPERTY
@for_all(history=histories, capacity=capacities)
def test_the_invariants_hold_after_every_step(
    history: list[tuple[Command, timedelta]], capacity: int
) -> None:
    driven = run(history, capacity)

    assert len(driven.state.applied_commands) <= capacity


@PROPERTY
@for_all(history=histories, capacity=capacities)
def test_folding_the_journal_reproduces_the_state(
    history: list[tuple[Command, timedelta]], capacity: int
) -> None:
    driven = run(history, capacity)

    assert fold(driven.journal, applied_capacity=capacity) == driven.state


@PROPERTY
@for_all(history=histories, capacity=capacities, data=st.data())
def test_a_snapshot_plus_the_events_after_it_reproduces_the_state(
    history: list[tuple[Command, timedelta]], capacity: int, data: st.DataObject
) -> None:
    driven = run(history, capacity)
    cut = data.draw(st.integers(min_value=0, max_value=len(driven.journal)), label="cut")
    snapshot = fold(driven.journal[:cut], applied_capacity=capacity)
    stored = CoordinatorState.model_validate_json(snapshot.to_json())

    assert fold(driven.journal[cut:], stored, applied_capacity=capacity) == driven.state


@PROPERTY
@for_all(history=histories)
def test_seq_is_contiguous_from_one_over_the_whole_journal(
    history: list[tuple[Command, timedelta]],
) -> None:
    driven = run(history, DEFAULT_APPLIED_CAPACITY)

    assert [event.seq for event in driven.journal] == list(range(1, len(driven.journal) + 1))


@PROPERTY
@for_all(history=histories)
def test_the_journal_read_back_from_its_json_folds_to_the_same_state(
    history: list[tuple[Command, timedelta]],
) -> None:
    driven = run(history, DEFAULT_APPLIED_CAPACITY)

    read_back = [decode_event(event.to_json()) for event in driven.journal]

    assert read_back == driven.journal
    assert fold(read_back) == driven.state
    assert CoordinatorState.model_validate_json(driven.state.to_json()) == driven.state


@PROPERTY
@for_all(history=histories, repeat=st.integers(min_value=0, max_value=39))
def test_replaying_any_applied_command_emits_nothing(
    history: list[tuple[Command, timedelta]], repeat: int
) -> None:
    # A registration of a pipeline no drawn command names always applies: none is ever empty.
    sure = RegisterPipeline(pipeline_id="sure", name="Applied", command_id="k-sure")
    history = [*history, (sure, timedelta(seconds=1))]
    driven = run(history, DEFAULT_APPLIED_CAPACITY)
    applied = [command for command, _ in history if command.command_id in driven.ever_applied]
    assert sure in applied
    command = applied[repeat % len(applied)]

    decision = decide(command, driven.state, context(driven.now))

    assert isinstance(decision, AlreadyApplied)
    assert decision.original.command_id == command.command_id
