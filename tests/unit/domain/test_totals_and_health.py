"""Totals are the sum of each registered pipeline's latest report; health follows the protocol."""

from __future__ import annotations

import pytest

from coordinator.domain.commands import (
    ReportResourceUsage,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.model import HealthStatus, PipelineStatus, SystemHealth

from .support import T0, given, register, when

R, F, C, P, S = (
    PipelineStatus.RUNNING,
    PipelineStatus.FAILED,
    PipelineStatus.CONFIGURED,
    PipelineStatus.PAUSED,
    PipelineStatus.STOPPED,
)


def report(pipeline_id: str, cpu: float, memory: int) -> ReportResourceUsage:
    return ReportResourceUsage(pipeline_id=pipeline_id, cpu_percent=cpu, memory_mb=memory)


def status(pipeline_id: str, value: PipelineStatus) -> UpdatePipelineStatus:
    return UpdatePipelineStatus(
        pipeline_id=pipeline_id, status=value, total_records=10, failed_records=0
    )


def test_a_second_report_replaces_the_first() -> None:
    state = given(register("p1"), report("p1", 10.0, 1024))

    after = when(report("p1", 20.0, 512), state).after

    assert after.summary.total_cpu_percent == 20.0
    assert after.summary.memory_mb_total == 512


def test_totals_add_up_over_pipelines() -> None:
    state = given(register("p1"), register("p2"), report("p1", 10.0, 1024), report("p2", 2.5, 4096))

    assert state.summary.total_cpu_percent == 12.5
    assert state.summary.memory_mb_total == 5120


def test_unregistering_removes_the_pipeline_s_share() -> None:
    state = given(register("p1"), register("p2"), report("p1", 10.0, 1024), report("p2", 2.5, 4096))

    after = when(UnregisterPipeline(pipeline_id="p1"), state).after

    assert after.summary.total_cpu_percent == 2.5
    assert after.summary.memory_mb_total == 4096


def test_adding_and_removing_awkward_floats_leaves_no_residue() -> None:
    # 0.1 + 0.2 - 0.1 is 0.20000000000000004 in floating point; the totals are kept exactly.
    state = given(
        register("a"),
        register("b"),
        report("a", 0.1, 1),
        report("b", 0.2, 1),
        UnregisterPipeline(pipeline_id="a"),
    )

    assert state.summary.total_cpu_percent == 0.2


def test_unregistering_every_pipeline_brings_the_totals_back_to_zero() -> None:
    state = given(
        register("a"),
        register("b"),
        report("a", 33.3, 7),
        report("b", 66.6, 9),
        UnregisterPipeline(pipeline_id="a"),
        UnregisterPipeline(pipeline_id="b"),
    )

    assert state.summary.total_cpu_percent == 0.0
    assert state.summary.memory_mb_total == 0


BY_LETTER = {status.value[0]: status for status in PipelineStatus}
"""``c``onfigured, ``r``unning, ``p``aused, ``s``topped, ``f``ailed."""


@pytest.mark.parametrize(
    ("letters", "expected"),
    [
        ("", HealthStatus.IDLE),
        ("r", HealthStatus.HEALTHY),
        ("cps", HealthStatus.HEALTHY),
        ("rrrf", HealthStatus.DEGRADED),
        ("rfr", HealthStatus.DEGRADED),
        ("rrrff", HealthStatus.DEGRADED),
        ("rf", HealthStatus.CRITICAL),
        ("rrff", HealthStatus.CRITICAL),
        ("rff", HealthStatus.CRITICAL),
        ("f", HealthStatus.CRITICAL),
    ],
)
def test_health_follows_the_share_of_failed_pipelines(letters: str, expected: HealthStatus) -> None:
    statuses = [BY_LETTER[letter] for letter in letters]
    ids = [f"p{n}" for n in range(len(statuses))]
    state = given(
        *(register(i) for i in ids),
        *(status(i, s) for i, s in zip(ids, statuses, strict=True) if s is not C),
    )

    health = state.get_system_health()

    assert health.status is expected
    assert health.total_pipelines == len(statuses)
    assert health.running_pipelines == statuses.count(R)
    assert health.failed_pipelines == statuses.count(F)


def test_system_health_carries_the_totals_and_last_update() -> None:
    state = given(register("p1"), status("p1", R), report("p1", 15.5, 2048))

    assert state.get_system_health() == SystemHealth(
        status=HealthStatus.HEALTHY,
        total_pipelines=1,
        running_pipelines=1,
        failed_pipelines=0,
        total_cpu_percent=15.5,
        total_memory_mb=2048,
        last_updated=T0,
    )


def test_count_by_status_names_every_status_even_when_zero() -> None:
    state = given(register("p1"), register("p2"), status("p2", F))

    assert state.count_by_status() == {C: 1, R: 0, P: 0, S: 0, F: 1}


def test_the_design_document_helpers_read_the_state() -> None:
    state = given(register("p1"), register("p2"), status("p2", R), report("p2", 70.0, 76_000))

    assert state.get_pipeline("p2") == state.pipelines["p2"]
    assert state.get_pipeline("ghost") is None
    assert [i.pipeline_id for i in state.list_pipelines()] == ["p1", "p2"]
    assert [i.pipeline_id for i in state.list_pipelines(R)] == ["p2"]
    assert state.has_resources_available(10.0, 4000) is True
    assert state.has_resources_available(10.0, 4096) is False
    assert state.has_resources_available(10.0, 4096, max_memory_mb=90_000) is True
    assert state.has_resources_available(20.0, 0, max_cpu_percent=85.0) is False
