"""ReportResourceUsage and CheckResourceAvailability: reporting usage and asking for room."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from coordinator.domain.commands import CheckResourceAvailability, ReportResourceUsage
from coordinator.domain.decider import Accepted, Answered
from coordinator.domain.events import ResourceUsageReported
from coordinator.domain.model import MAX_LONG, ResourceLimits
from coordinator.domain.replies import ErrorCode
from coordinator.domain.state import change_for

from .support import T0, assert_refused, context, given, register, registered, when


def report(
    pipeline_id: str = "p1", cpu: float = 15.5, memory: int = 2048, **envelope: str
) -> ReportResourceUsage:
    return ReportResourceUsage(
        pipeline_id=pipeline_id, cpu_percent=cpu, memory_mb=memory, **envelope
    )


def check(cpu: float, memory: int) -> CheckResourceAvailability:
    return CheckResourceAvailability(estimated_cpu_percent=cpu, estimated_memory_mb=memory)


# ReportResourceUsage


def test_a_resource_report_emits_resource_usage_reported() -> None:
    state = registered("p1")

    outcome = when(report(command_id="r1"), state)

    assert outcome.decision == Accepted(
        (
            ResourceUsageReported(
                seq=2,
                command_id="r1",
                pipeline_id="p1",
                cpu_percent=15.5,
                memory_mb=2048,
                timestamp=T0,
            ),
        )
    )


def test_a_resource_report_records_the_usage_and_moves_only_the_heartbeat() -> None:
    later = T0 + timedelta(minutes=1)
    state = registered("p1")

    outcome = when(report(cpu=15.5, memory=2048), state, context(later))

    info = outcome.after.pipeline("p1")
    assert info is not None
    assert (info.cpu_percent, info.memory_mb) == (15.5, 2048)
    assert info.last_heartbeat == later
    assert info.registered_at == T0
    assert outcome.after.summary.total_cpu_percent == 15.5
    assert outcome.after.summary.memory_mb_total == 2048


def test_a_resource_report_is_fire_and_forget() -> None:
    state = registered("p1")
    outcome = when(report(), state)
    assert isinstance(outcome.decision, Accepted)

    assert change_for(state, outcome.decision.events[0]).reply is None


@pytest.mark.parametrize(("cpu", "memory"), [(0.0, 0), (100.0, MAX_LONG), (0, 1), (99.999, 10)])
def test_usage_at_the_edges_is_accepted(cpu: float, memory: int) -> None:
    state = registered("p1")

    outcome = when(report(cpu=cpu, memory=memory), state)

    assert isinstance(outcome.decision, Accepted)


@pytest.mark.parametrize(
    ("cpu", "memory", "field"),
    [
        (math.nan, 1, "cpuPercent"),
        (math.inf, 1, "cpuPercent"),
        (-math.inf, 1, "cpuPercent"),
        (-0.1, 1, "cpuPercent"),
        (100.000001, 1, "cpuPercent"),
        (1e308, 1, "cpuPercent"),
        (10.0, -1, "memoryMB"),
        (10.0, MAX_LONG + 1, "memoryMB"),
        (10.0, 2**100, "memoryMB"),
    ],
)
def test_invalid_usage_is_refused_and_dead_lettered(cpu: float, memory: int, field: str) -> None:
    state = registered("p1")

    outcome = when(report(cpu=cpu, memory=memory), state)

    refusal = assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)
    assert field in refusal.error.message


def test_a_resource_report_for_an_unknown_pipeline_changes_nothing() -> None:
    state = registered("p1")

    outcome = when(report(pipeline_id="ghost"), state)

    assert_refused(outcome, ErrorCode.PIPELINE_NOT_FOUND, dead_letter=False)


@pytest.mark.parametrize("pipeline_id", ["", "\u3000", "x" * 257, "\x00"])
def test_an_invalid_pipeline_id_is_refused_and_dead_lettered(pipeline_id: str) -> None:
    state = registered("p1")

    outcome = when(report(pipeline_id=pipeline_id), state)

    assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)


# CheckResourceAvailability


def test_resources_are_available_when_both_estimates_fit_under_the_default_limits() -> None:
    state = given(register("p1"), report(cpu=50.0, memory=40_000))

    outcome = when(check(10.0, 4096), state)

    assert outcome.decision == Answered(True)
    assert outcome.events == ()
    assert outcome.after == state


def test_resources_are_available_exactly_at_the_limits() -> None:
    state = given(register("p1"), report(cpu=70.0, memory=76_000))

    outcome = when(check(10.0, 4000), state)

    assert outcome.decision == Answered(True)


@pytest.mark.parametrize(("cpu", "memory"), [(10.5, 4000), (10.0, 4001), (11.0, 5000)])
def test_resources_are_unavailable_when_either_estimate_overflows(cpu: float, memory: int) -> None:
    # The design document's WARN example: cpu=10% (current=72%) memory=4096MB (current=78000).
    state = given(register("p1"), report(cpu=70.0, memory=76_000))

    outcome = when(check(cpu, memory), state)

    assert outcome.decision == Answered(False)


def test_the_limits_come_from_the_context() -> None:
    state = given(register("p1"), report(cpu=70.0, memory=76_000))
    roomy = context(limits=ResourceLimits(max_cpu_percent=95.0, max_memory_mb=200_000))

    outcome = when(check(20.0, 100_000), state, roomy)

    assert outcome.decision == Answered(True)


def test_an_empty_registry_has_room_for_anything_within_the_limits() -> None:
    outcome = when(check(80.0, 80_000), given())

    assert outcome.decision == Answered(True)


@pytest.mark.parametrize(
    ("cpu", "memory", "field"),
    [
        (math.nan, 0, "estimatedCpuPercent"),
        (math.inf, 0, "estimatedCpuPercent"),
        (-1.0, 0, "estimatedCpuPercent"),
        (100.5, 0, "estimatedCpuPercent"),
        (1.0, -1, "estimatedMemoryMB"),
        (1.0, MAX_LONG + 1, "estimatedMemoryMB"),
    ],
)
def test_invalid_estimates_are_refused_and_dead_lettered(
    cpu: float, memory: int, field: str
) -> None:
    outcome = when(check(cpu, memory), registered("p1"))

    refusal = assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)
    assert field in refusal.error.message
