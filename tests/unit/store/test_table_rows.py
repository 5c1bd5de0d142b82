"""A pipeline's row in the table: the fields at their defaults are left out, and rows written
with every field (before they were left out, or by a snapshot of that time) read the same."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from coordinator.domain.model import PipelineInfo, PipelineStatus
from coordinator.store.table import pipeline_row

T0 = datetime(2026, 11, 27, 3, 52, 48, 480000, tzinfo=UTC)


def _info(**fields: object) -> PipelineInfo:
    base: dict[str, object] = {
        "pipeline_id": "p1",
        "name": "first",
        "status": PipelineStatus.RUNNING,
        "total_records": 10,
        "failed_records": 1,
        "cpu_percent": 12.5,
        "memory_mb": 300,
        "registered_at": T0,
        "last_heartbeat": T0,
        "status_since": T0,
    }
    base.update(fields)
    return PipelineInfo.model_validate(base)


def test_a_row_leaves_out_the_fields_at_their_defaults_and_reads_back_the_same() -> None:
    info = _info()

    row = pipeline_row(info)

    assert set(json.loads(row)) == {
        "pipelineId",
        "name",
        "status",
        "totalRecords",
        "failedRecords",
        "cpuPercent",
        "memoryMB",
        "registeredAt",
        "lastHeartbeat",
        "statusSince",
    }
    assert PipelineInfo.model_validate_json(row) == info


def test_a_row_keeps_every_field_that_differs_from_its_default() -> None:
    info = _info(
        group="batch",
        requested_cpu_percent=5.0,
        requested_memory_mb=64,
        priority=3,
        preemptible=False,
        labels={"team": "data"},
    )

    read = PipelineInfo.model_validate_json(pipeline_row(info))

    assert read == info
    assert json.loads(pipeline_row(info))["preemptible"] is False


def test_a_row_with_every_field_reads_as_before() -> None:
    info = _info()

    assert PipelineInfo.model_validate_json(info.to_json()) == info
    assert len(json.loads(info.to_json())) > len(json.loads(pipeline_row(info)))
