"""The design document's three test scenarios, end to end through Kafka and a real worker."""

from __future__ import annotations

import pytest

from coordinator.client import CommandRefusedError
from coordinator.domain.replies import ErrorCode
from tests.fixtures.workers import Deployment

pytestmark = pytest.mark.integration


def test_register_a_pipeline(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()
    with deployment.client() as client:
        summary = client.register("p1", "Pipeline 1")

    assert summary.pipeline_id == "p1"
    assert summary.pipeline is not None and summary.pipeline.name == "Pipeline 1"
    assert summary.total_pipelines == 1


def test_reject_duplicate_registration(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()
    with deployment.client() as client:
        client.register("p1", "Pipeline 1")
        with pytest.raises(CommandRefusedError) as refused:
            client.register("p1", "Pipeline 1")

    assert refused.value.code is ErrorCode.PIPELINE_ALREADY_REGISTERED


def test_track_resource_usage(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()
    with deployment.client() as client:
        client.register("p1", "Pipeline 1")
        client.report_resources("p1", 10.0, 1024)
        # Fire-and-forget, then a query: commands are applied in order, so the query sees it.
        status = client.system_status()

    assert status.total_cpu_percent == 10.0
    assert status.total_memory_mb == 1024
    assert status.pipelines is not None and status.pipelines["p1"].cpu_percent == 10.0
