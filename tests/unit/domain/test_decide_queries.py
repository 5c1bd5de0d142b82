"""GetSystemStatus, GetPipelineInfo and ListPipelines: answers that never change the state."""

from __future__ import annotations

import pytest

from coordinator.domain.commands import (
    GetPipelineInfo,
    GetSystemStatus,
    ListPipelines,
    ReportResourceUsage,
    UpdatePipelineStatus,
)
from coordinator.domain.decider import Answered
from coordinator.domain.model import EffectiveLimits, HealthStatus, PipelineStatus, ResourceLimits
from coordinator.domain.replies import ErrorCode, PipelinePage, SystemStatus

from .support import T0, assert_refused, context, given, register, registered, when


def running(pipeline_id: str) -> UpdatePipelineStatus:
    return UpdatePipelineStatus(
        pipeline_id=pipeline_id, status=PipelineStatus.RUNNING, total_records=1, failed_records=0
    )


# GetSystemStatus


def test_system_status_of_an_empty_registry_is_idle() -> None:
    outcome = when(GetSystemStatus(), given())

    assert isinstance(outcome.decision, Answered)
    status = outcome.decision.value
    assert isinstance(status, SystemStatus)
    assert status.health.status is HealthStatus.IDLE
    assert status.health.total_pipelines == 0
    assert status.pipelines == {}
    assert status.pipelines_omitted is False
    assert status.last_updated is None
    assert status.seq == 0


def test_system_status_reports_health_counts_totals_limits_and_pipelines() -> None:
    state = given(
        register("p1"),
        register("p2"),
        running("p1"),
        ReportResourceUsage(pipeline_id="p1", cpu_percent=12.5, memory_mb=1024),
    )
    limits = ResourceLimits(max_cpu_percent=90.0, max_memory_mb=1000)

    outcome = when(GetSystemStatus(command_id="q1"), state, context(limits=limits))

    assert isinstance(outcome.decision, Answered)
    status = outcome.decision.value
    assert isinstance(status, SystemStatus)
    assert status.health.status is HealthStatus.HEALTHY
    assert status.health.running_pipelines == 1
    assert status.count_by_status[PipelineStatus.RUNNING] == 1
    assert status.count_by_status[PipelineStatus.CONFIGURED] == 1
    assert status.total_cpu_percent == status.health.total_cpu_percent == 12.5
    assert status.total_memory_mb == status.health.total_memory_mb == 1024
    assert status.last_updated == T0
    assert status.seq == 4
    assert status.limits == EffectiveLimits(max_cpu_percent=90.0, max_memory_mb=1000)
    assert status.limits.source == "configuration"
    assert status.over_committed  # 1,024 MB in use against a limit of 1,000
    assert status.pipelines == state.pipelines
    assert outcome.after == state


# GetPipelineInfo


def test_pipeline_info_of_a_registered_pipeline_is_its_info() -> None:
    state = registered("p1", "p2")

    outcome = when(GetPipelineInfo(pipeline_id="p2"), state)

    assert outcome.decision == Answered(state.pipeline("p2"))
    assert outcome.after == state


def test_pipeline_info_of_an_unknown_pipeline_is_none_not_an_error() -> None:
    outcome = when(GetPipelineInfo(pipeline_id="ghost"), registered("p1"))

    assert outcome.decision == Answered(None)


@pytest.mark.parametrize("pipeline_id", ["", " ", "x" * 257, "a\x00b"])
def test_pipeline_info_with_an_invalid_id_is_refused(pipeline_id: str) -> None:
    outcome = when(GetPipelineInfo(pipeline_id=pipeline_id), registered("p1"))

    assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)


# ListPipelines


def test_listing_without_arguments_gives_every_pipeline_in_id_order() -> None:
    state = registered("b", "c", "a")

    outcome = when(ListPipelines(), state)

    assert outcome.decision == Answered(
        PipelinePage(items=[state.pipelines[i] for i in ("a", "b", "c")], next=None)
    )


def test_listing_with_a_status_filter_gives_only_those_pipelines() -> None:
    state = given(register("p1"), register("p2"), register("p3"), running("p2"))

    outcome = when(ListPipelines(status=PipelineStatus.RUNNING), state)

    assert isinstance(outcome.decision, Answered)
    page = outcome.decision.value
    assert isinstance(page, PipelinePage)
    assert [info.pipeline_id for info in page.items] == ["p2"]
    assert page.next is None


def test_listing_failed_pipelines_of_a_healthy_registry_gives_an_empty_last_page() -> None:
    outcome = when(ListPipelines(status=PipelineStatus.FAILED), registered("p1"))

    assert outcome.decision == Answered(PipelinePage(items=[], next=None))


@pytest.mark.parametrize("limit", [0, -1, -(2**63)])
def test_a_limit_below_one_is_refused(limit: int) -> None:
    outcome = when(ListPipelines(limit=limit), registered("p1"))

    refusal = assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)
    assert "limit" in refusal.error.message


def test_a_cursor_longer_than_any_id_is_refused() -> None:
    outcome = when(ListPipelines(after="x" * 257), registered("p1"))

    refusal = assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)
    assert "after" in refusal.error.message
