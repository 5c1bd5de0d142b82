"""Idempotency: a command whose ``commandId`` was already applied is answered, not re-applied."""

from __future__ import annotations

import pytest

from coordinator.domain.commands import (
    Command,
    GetSystemStatus,
    RegisterPipeline,
    ReportResourceUsage,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.decider import Accepted, AlreadyApplied, Answered
from coordinator.domain.model import PipelineStatus
from coordinator.domain.replies import ErrorCode, StateSummary
from coordinator.domain.state import fold

from .support import Outcome, assert_refused, given, register, registered, when


def usage(cpu: float, command_id: str) -> ReportResourceUsage:
    return ReportResourceUsage(
        pipeline_id="p1", cpu_percent=cpu, memory_mb=1, command_id=command_id
    )


def test_a_retried_registration_gets_the_summary_computed_when_it_was_applied() -> None:
    first = when(register("p1", command_id="c1"), given())
    state = given(register("p2"), register("p3"), state=first.after)

    retry = when(register("p1", command_id="c1"), state)

    assert isinstance(retry.decision, AlreadyApplied)
    original = retry.decision.original
    assert original.command_id == "c1"
    assert original.command_type == "RegisterPipeline"
    assert original.seq == 1
    assert isinstance(original.value, StateSummary)
    assert original.value.total_pipelines == 1
    assert original.value.seq == 1
    assert original.value.pipeline == first.after.pipeline("p1")
    assert retry.events == ()
    assert retry.after == state


def test_a_retry_is_answered_even_when_the_same_command_would_now_be_refused() -> None:
    state = given(register("p1"), UnregisterPipeline(pipeline_id="p1", command_id="u1"))

    retry = when(UnregisterPipeline(pipeline_id="p1", command_id="u1"), state)

    assert isinstance(retry.decision, AlreadyApplied)
    assert isinstance(retry.decision.original.value, StateSummary)
    assert retry.decision.original.value.total_pipelines == 0


@pytest.mark.parametrize(
    "command",
    [
        UpdatePipelineStatus(
            pipeline_id="p1",
            status=PipelineStatus.RUNNING,
            total_records=1,
            failed_records=0,
            command_id="x",
        ),
        ReportResourceUsage(pipeline_id="p1", cpu_percent=1.0, memory_mb=1, command_id="x"),
    ],
    ids=["UpdatePipelineStatus", "ReportResourceUsage"],
)
def test_a_retried_fire_and_forget_command_emits_nothing_and_replays_no_value(
    command: Command,
) -> None:
    state = given(register("p1"), command)

    retry = when(command, state)

    assert isinstance(retry.decision, AlreadyApplied)
    assert retry.decision.original.value is None
    assert retry.decision.original.seq == 2
    assert retry.after == state


def test_a_retried_report_does_not_overwrite_a_newer_one() -> None:
    state = given(register("p1"), usage(10.0, "r1"), usage(20.0, "r2"))

    retry = when(usage(10.0, "r1"), state)

    assert isinstance(retry.decision, AlreadyApplied)
    assert retry.after.summary.total_cpu_percent == 20.0


def test_queries_are_not_remembered() -> None:
    state = registered("p1")

    first = when(GetSystemStatus(command_id="q1"), state)
    second = when(GetSystemStatus(command_id="q1"), first.after)

    assert isinstance(first.decision, Answered)
    assert isinstance(second.decision, Answered)
    assert state.applied("q1") is None


def test_refused_commands_are_not_remembered_so_a_retry_may_succeed_later() -> None:
    early = when(usage(5.0, "r1"), given())
    assert_refused(early, ErrorCode.PIPELINE_NOT_FOUND, dead_letter=False)
    state = given(register("p1"), state=early.after)

    retry = when(usage(5.0, "r1"), state)

    assert isinstance(retry.decision, Accepted)


def test_commands_without_a_command_id_are_never_remembered() -> None:
    state = given(register("p1"), usage(1.0, "r1"))

    after = when(RegisterPipeline(pipeline_id="p2", name="Two"), state).after

    assert after.summary.applied_count == state.summary.applied_count == 1
    assert after.applied_commands == state.applied_commands


def applied_in_turn(count: int, capacity: int) -> list[Outcome]:
    outcomes = [when(register("p1"), given(), applied_capacity=capacity)]
    for number in range(1, count + 1):
        outcomes.append(
            when(usage(float(number), f"c{number}"), outcomes[-1].after, applied_capacity=capacity)
        )
    return outcomes


def test_the_oldest_command_id_is_forgotten_when_the_ring_is_full() -> None:
    state = applied_in_turn(4, capacity=3)[-1].after

    assert state.applied("c1") is None
    assert [state.applied(f"c{n}") is not None for n in (2, 3, 4)] == [True, True, True]
    assert len(state.applied_commands) == 3
    assert sorted(state.ring.values()) == ["c2", "c3", "c4"]


def test_a_forgotten_command_id_is_applied_again_and_a_remembered_one_is_not() -> None:
    state = applied_in_turn(4, capacity=3)[-1].after

    forgotten = when(usage(1.0, "c1"), state, applied_capacity=3)
    remembered = when(usage(2.0, "c2"), state, applied_capacity=3)

    assert isinstance(forgotten.decision, Accepted)
    assert forgotten.after.applied("c2") is None
    assert isinstance(remembered.decision, AlreadyApplied)


def test_folding_the_journal_with_the_same_capacity_remembers_the_same_commands() -> None:
    outcomes = applied_in_turn(7, capacity=3)
    journal = [event for outcome in outcomes for event in outcome.events]

    assert fold(journal, applied_capacity=3) == outcomes[-1].after


def test_a_capacity_of_zero_remembers_nothing() -> None:
    state = applied_in_turn(2, capacity=0)[-1].after

    assert state.applied_commands == {}
    assert isinstance(when(usage(1.0, "c1"), state, applied_capacity=0).decision, Accepted)
