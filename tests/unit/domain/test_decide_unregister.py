"""UnregisterPipeline: given registered pipelines, when one is unregistered, then ..."""

from __future__ import annotations

import pytest

from coordinator.domain.commands import (
    ReportResourceUsage,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.decider import Accepted
from coordinator.domain.events import PipelineUnregistered
from coordinator.domain.model import PipelineStatus
from coordinator.domain.replies import ErrorCode, StateSummary
from coordinator.domain.state import change_for

from .support import T0, assert_refused, given, register, registered, when


def test_unregistering_a_registered_pipeline_emits_pipeline_unregistered() -> None:
    state = registered("p1", "p2")

    outcome = when(UnregisterPipeline(pipeline_id="p1", command_id="u1"), state)

    assert outcome.decision == Accepted(
        (PipelineUnregistered(seq=3, command_id="u1", pipeline_id="p1", timestamp=T0),)
    )
    assert outcome.after.pipeline("p1") is None
    assert set(outcome.after.pipelines) == {"p2"}
    assert outcome.after.summary.total_pipelines == 1


def test_the_reply_to_an_unregistration_carries_the_last_info_and_the_totals_without_it() -> None:
    state = given(
        register("p1"),
        register("p2"),
        ReportResourceUsage(pipeline_id="p1", cpu_percent=30.0, memory_mb=3000),
        ReportResourceUsage(pipeline_id="p2", cpu_percent=5.0, memory_mb=500),
    )
    outcome = when(UnregisterPipeline(pipeline_id="p1"), state)
    assert isinstance(outcome.decision, Accepted)

    reply = change_for(state, outcome.decision.events[0]).reply

    assert isinstance(reply, StateSummary)
    assert reply.pipeline == state.pipeline("p1")
    assert reply.total_pipelines == 1
    assert reply.total_cpu_percent == 5.0
    assert reply.total_memory_mb == 500


def test_unregistering_removes_the_pipeline_from_its_status_count() -> None:
    state = given(
        register("p1"),
        UpdatePipelineStatus(
            pipeline_id="p1", status=PipelineStatus.FAILED, total_records=10, failed_records=10
        ),
    )

    outcome = when(UnregisterPipeline(pipeline_id="p1"), state)

    assert outcome.after.summary.count(PipelineStatus.FAILED) == 0
    assert outcome.after.summary.total_pipelines == 0


def test_unregistering_an_unknown_pipeline_is_refused_as_a_business_error() -> None:
    state = registered("p1")

    outcome = when(UnregisterPipeline(pipeline_id="p2"), state)

    refusal = assert_refused(outcome, ErrorCode.PIPELINE_NOT_FOUND, dead_letter=False)
    assert "p2" in refusal.error.message


def test_unregistering_twice_is_refused_the_second_time() -> None:
    state = given(register("p1"), UnregisterPipeline(pipeline_id="p1"))

    outcome = when(UnregisterPipeline(pipeline_id="p1"), state)

    assert_refused(outcome, ErrorCode.PIPELINE_NOT_FOUND, dead_letter=False)


@pytest.mark.parametrize("pipeline_id", ["", "  ", "x" * 257, "p\x00"])
def test_an_invalid_pipeline_id_is_refused_and_dead_lettered(pipeline_id: str) -> None:
    state = registered("p1")

    outcome = when(UnregisterPipeline(pipeline_id=pipeline_id), state)

    refusal = assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)
    assert "pipelineId" in refusal.error.message
