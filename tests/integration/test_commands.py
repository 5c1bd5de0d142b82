"""Every command type through Kafka, with each error reply, paging and reply sizes."""

from __future__ import annotations

import pytest

from coordinator.domain.model import HealthStatus, PipelineStatus
from coordinator.domain.replies import ErrorCode
from tests.fixtures.workers import Deployment
from tests.integration.support import assert_worker_matches_journal, journal

pytestmark = pytest.mark.integration


def test_every_command_type_and_its_replies(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()
    with deployment.client() as client:
        assert client.system_status().health.status is HealthStatus.IDLE
        client.register("p1", "Pipeline 1")
        client.register("p2", "Pipeline 2")
        client.update_status("p1", "RUNNING", 1000, 5)
        client.update_status("p2", PipelineStatus.FAILED, 10, 10)
        client.report_resources("p1", 15.5, 2048)
        client.report_resources("p1", 20.0, 1024)  # replaces the first report

        info = client.pipeline_info("p1")
        assert info is not None
        assert (info.status, info.total_records, info.failed_records) == ("running", 1000, 5)
        assert (info.cpu_percent, info.memory_mb) == (20.0, 1024)
        assert info.last_heartbeat >= info.registered_at
        assert client.pipeline_info("nope") is None

        status = client.system_status()
        assert status.health.status is HealthStatus.CRITICAL  # 1 of 2 failed
        assert (status.total_cpu_percent, status.total_memory_mb) == (20.0, 1024)
        assert status.count_by_status[PipelineStatus.RUNNING] == 1
        assert status.pipelines is not None and set(status.pipelines) == {"p1", "p2"}

        assert client.check_resources(60.0, 1000) is True
        assert client.check_resources(60.1, 1000) is False
        assert client.check_resources(1.0, 80000) is False

        failed = list(client.list_pipelines(status="failed"))
        assert [p.pipeline_id for p in failed] == ["p2"]

        summary = client.unregister("p2")
        assert summary.total_pipelines == 1 and summary.pipeline_id == "p2"
        assert client.system_status().health.status is HealthStatus.HEALTHY

        assert_worker_matches_journal(deployment.settings, client)


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (
            {"type": "RegisterPipeline", "pipelineId": "p1", "name": "again"},
            "PIPELINE_ALREADY_REGISTERED",
        ),
        ({"type": "UnregisterPipeline", "pipelineId": "ghost"}, "PIPELINE_NOT_FOUND"),
        ({"type": "RegisterPipeline", "pipelineId": "p9", "name": "   "}, "INVALID_ARGUMENT"),
        ({"type": "RegisterPipeline", "pipelineId": "p9"}, "INVALID_COMMAND"),
        ({"type": "LaunchRocket"}, "UNKNOWN_COMMAND_TYPE"),
        (
            {
                "type": "CheckResourceAvailability",
                "estimatedCpuPercent": -1,
                "estimatedMemoryMB": 1,
            },
            "INVALID_ARGUMENT",
        ),
        (
            {
                "type": "UpdatePipelineStatus",
                "pipelineId": "p1",
                "status": "running",
                "totalRecords": 1,
                "failedRecords": 2,
            },
            "INVALID_ARGUMENT",
        ),
        (
            {
                "type": "UpdatePipelineStatus",
                "pipelineId": "ghost",
                "status": "running",
                "totalRecords": 1,
                "failedRecords": 0,
            },
            "PIPELINE_NOT_FOUND",
        ),
        (
            {"type": "ReportResourceUsage", "pipelineId": "p1", "cpuPercent": 101, "memoryMB": 1},
            "INVALID_ARGUMENT",
        ),
        ({"type": "ListPipelines", "limit": 0}, "INVALID_ARGUMENT"),
    ],
)
def test_error_replies(deployment: Deployment, command: dict[str, object], code: str) -> None:
    deployment.worker().start().wait_serving()
    with deployment.client() as client:
        client.register("p1", "Pipeline 1")
        reply = client.request(command)

    assert reply.ok is False
    assert reply.error is not None and reply.error.code == ErrorCode(code)
    assert reply.correlation_id is not None
    assert len(journal(deployment.settings)) == 1  # only the registration


def test_paging_through_thousands_and_status_size(deployment: Deployment) -> None:
    deployment.worker(max_reply_bytes=200_000).start().wait_serving()
    count = 3000
    with deployment.client(timeout=60) as client:
        for index in range(count):
            client.send_raw(
                f'{{"type":"RegisterPipeline","pipelineId":"pipe-{index:05d}","name":"n{index}"}}'
            )
        client.update_status("pipe-00007", "running", 1, 0)
        status = client.system_status()  # applied after all registrations (same partition)
        assert status.health.total_pipelines == count
        assert status.pipelines is None and status.pipelines_omitted is True
        assert len(status.to_json()) < 200_000

        seen = []
        after = None
        pages = 0
        while True:
            page = client.list_page(limit=700, after=after)
            pages += 1
            assert len(page.to_json()) < 200_000
            seen.extend(p.pipeline_id for p in page.items)
            if page.next is None:
                break
            after = page.next
        assert seen == [f"pipe-{index:05d}" for index in range(count)]
        assert pages >= count // 700

        running = list(client.list_pipelines(status="running", page_size=50))
        assert [p.pipeline_id for p in running] == ["pipe-00007"]
