"""The summary keeps the default group's usage implicit (the totals less the other groups'),
and shows and writes it as before: ``groups``, its JSON and a summary read back all carry the
default group's charges and counts."""

from __future__ import annotations

import json

from coordinator.domain.commands import (
    CreateGroup,
    MovePipeline,
    RegisterPipeline,
    ReportResourceUsage,
    UpdatePipelineStatus,
)
from coordinator.domain.groups import charge_of
from coordinator.domain.model import DEFAULT_GROUP, PipelineStatus, Summary
from coordinator.domain.state import CoordinatorState

from .support import given


def _registered(pipeline_id: str, group: str | None = None, **requests: object) -> RegisterPipeline:
    return RegisterPipeline.model_validate(
        {"pipelineId": pipeline_id, "name": pipeline_id, "group": group, **requests}
    )


def _mixed() -> CoordinatorState:
    return given(
        CreateGroup(group_id="batch"),
        _registered("plain"),
        _registered("asks", requestedCpuPercent=30.0, requestedMemoryMB=500),
        _registered("other", "batch", requestedMemoryMB=100),
        _registered("moving", requestedCpuPercent=5.0),
        ReportResourceUsage(pipeline_id="plain", cpu_percent=12.5, memory_mb=40),
        ReportResourceUsage(pipeline_id="asks", cpu_percent=45.0, memory_mb=20),
        ReportResourceUsage(pipeline_id="other", cpu_percent=3.0, memory_mb=700),
        UpdatePipelineStatus(
            pipeline_id="asks", status=PipelineStatus.RUNNING, total_records=1, failed_records=0
        ),
        MovePipeline(pipeline_id="moving", group_id="batch"),
    )


def test_the_default_group_shows_the_charges_and_counts_of_its_pipelines() -> None:
    state = _mixed()
    members = [info for info in state.pipelines.values() if info.group == DEFAULT_GROUP]

    default = state.summary.groups[DEFAULT_GROUP]

    assert default.charged_cpu == sum(charge_of(info)[0] for info in members)
    assert default.charged_memory_mb == sum(charge_of(info)[1] for info in members)
    assert default.count_by_status[PipelineStatus.RUNNING] == 1
    assert default.count_by_status[PipelineStatus.CONFIGURED] == 1
    assert default.pipelines == 2


def test_a_summary_is_written_with_the_default_groups_usage_and_reads_back_the_same() -> None:
    summary = _mixed().summary

    written = summary.to_json()
    read = Summary.model_validate_json(written)

    default = json.loads(written)["groups"][DEFAULT_GROUP]
    assert default["chargedMemoryMB"] == summary.groups[DEFAULT_GROUP].charged_memory_mb
    assert "excessCpu" not in json.loads(written)
    assert read == summary
    assert read.to_json() == written


def test_a_summary_written_with_every_groups_usage_reads_as_the_same_state() -> None:
    """The JSON a summary had before the default group's usage was implicit (every group's
    charges written): read, it shows and writes the same."""
    written = json.dumps(
        {
            "seq": 9,
            "countByStatus": {"configured": 1, "running": 2},
            "cpuTotal": str(4 << 1074),
            "memoryMBTotal": 300,
            "groups": {
                "default": {
                    "groupId": "default",
                    "chargedCpu": str(10 << 1074),
                    "chargedMemoryMB": 250,
                    "countByStatus": {"running": 2},
                },
                "batch": {
                    "groupId": "batch",
                    "revision": 1,
                    "chargedCpu": str(1 << 1074),
                    "chargedMemoryMB": 100,
                    "countByStatus": {"configured": 1},
                },
            },
        }
    )

    summary = Summary.model_validate_json(written)

    default = summary.groups[DEFAULT_GROUP]
    assert (default.charged_cpu, default.charged_memory_mb) == (10 << 1074, 250)
    assert default.count_by_status[PipelineStatus.RUNNING] == 2
    assert summary.groups["batch"].charged_memory_mb == 100
    again = Summary.model_validate_json(summary.to_json())
    assert again == summary
    assert again.groups == summary.groups
