"""The synchronous client against a real broker and worker: every call, refusals, retries with
the same commandId, timeouts without a worker, paging, and a quick "no broker" error."""

from __future__ import annotations

import json
import time

import pytest

from coordinator.client import (
    BrokerUnreachableError,
    CommandRefusedError,
    CoordinatorClient,
    ReplyTimeoutError,
    TopicNotFoundError,
)
from coordinator.config import Settings
from coordinator.domain.model import HealthStatus, PipelineStatus
from coordinator.domain.replies import ErrorCode, StateSummary
from tests.fixtures.broker import Broker, free_port
from tests.fixtures.workers import Deployment
from tests.integration.support import assert_worker_matches_journal, journal, read_topic

pytestmark = pytest.mark.integration


def refusal(call: object, *args: object, **kwargs: object) -> ErrorCode:
    assert callable(call)
    with pytest.raises(CommandRefusedError) as refused:
        call(*args, **kwargs)
    return refused.value.code


def test_every_call_with_its_refusals(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()
    with deployment.client() as client:
        assert client.system_status().health.status is HealthStatus.IDLE

        first = client.register("p1", "Pipeline 1")
        assert isinstance(first, StateSummary)
        assert (first.pipeline_id, first.total_pipelines, first.seq) == ("p1", 1, 1)
        assert first.pipeline is not None and first.pipeline.status is PipelineStatus.CONFIGURED
        client.register("p2", "Pipeline 2")
        assert refusal(client.register, "p1", "again") is ErrorCode.PIPELINE_ALREADY_REGISTERED
        assert refusal(client.register, "p3", "   ") is ErrorCode.INVALID_ARGUMENT

        client.update_status("p1", "RUNNING", 1000, 5)
        client.update_status("p2", PipelineStatus.FAILED, 10, 10, confirm=True)
        assert (
            refusal(client.update_status, "ghost", "running", 1, 0, confirm=True)
            is ErrorCode.PIPELINE_NOT_FOUND
        )
        assert (
            refusal(client.update_status, "p1", "running", 1, 2, confirm=True)
            is ErrorCode.INVALID_ARGUMENT
        )
        with pytest.raises(ValueError, match="unknown pipeline status"):
            client.update_status("p1", "sleeping", 1, 0)

        client.report_resources("p1", 15.5, 2048)
        client.report_resources("p2", 10.0, 1000, confirm=True)
        assert (
            refusal(client.report_resources, "p1", 101.0, 1, confirm=True)
            is ErrorCode.INVALID_ARGUMENT
        )
        assert (
            refusal(client.report_resources, "ghost", 1.0, 1, confirm=True)
            is ErrorCode.PIPELINE_NOT_FOUND
        )

        info = client.pipeline_info("p1")
        assert info is not None
        assert (info.status, info.total_records, info.failed_records) == (
            PipelineStatus.RUNNING,
            1000,
            5,
        )
        assert (info.cpu_percent, info.memory_mb) == (15.5, 2048)
        assert info.last_heartbeat > info.registered_at
        assert client.pipeline_info("ghost") is None

        status = client.system_status()
        assert status.health.status is HealthStatus.CRITICAL  # 1 of 2 failed
        assert (status.total_cpu_percent, status.total_memory_mb) == (25.5, 3048)
        assert status.count_by_status[PipelineStatus.RUNNING] == 1
        assert status.pipelines is not None and set(status.pipelines) == {"p1", "p2"}

        assert client.check_resources(54.5, 1000) is True
        assert client.check_resources(54.6, 1000) is False
        assert refusal(client.check_resources, -1.0, 1) is ErrorCode.INVALID_ARGUMENT

        assert [p.pipeline_id for p in client.list_pipelines()] == ["p1", "p2"]
        assert [p.pipeline_id for p in client.list_pipelines(status="failed")] == ["p2"]

        raw = client.request({"type": "LaunchRocket"})
        assert raw.ok is False and raw.error is not None
        assert raw.error.code is ErrorCode.UNKNOWN_COMMAND_TYPE

        assert refusal(client.unregister, "ghost") is ErrorCode.PIPELINE_NOT_FOUND
        gone = client.unregister("p2")
        assert gone.total_pipelines == 1 and gone.pipeline is not None
        assert gone.pipeline.pipeline_id == "p2"
        assert client.system_status().health.status is HealthStatus.HEALTHY

        assert_worker_matches_journal(deployment.settings, client)


def test_retry_after_timeout_is_applied_once(deployment: Deployment) -> None:
    """No worker yet: the call times out after every attempt; started later, the worker applies
    the re-sent command once and its reply reaches a retry with the same commandId."""
    with deployment.client(timeout=0.5, retries=1) as client:
        assert client.reply_topic  # created now: the figure below is the two attempts only
        started = time.monotonic()
        with pytest.raises(ReplyTimeoutError, match="is a coordinator worker running") as late:
            client.register("p1", "Pipeline 1", command_id="register-p1")
        assert 0.9 < time.monotonic() - started < 8
        assert "commandId register-p1" in str(late.value)

        sent = [
            json.loads(m.value or b"")
            for m in read_topic(deployment.settings, deployment.settings.topics.commands)
        ]
        assert [c["commandId"] for c in sent] == ["register-p1", "register-p1"]

        deployment.worker().start().wait_serving()
        client.timeout = 15.0
        again = client.register("p1", "Pipeline 1", command_id="register-p1")
        assert again.seq == 1 and again.total_pipelines == 1

    events = journal(deployment.settings)
    assert [(e.type, e.command_id) for e in events] == [("PipelineRegistered", "register-p1")]


def test_paging_walks_every_page(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()
    with deployment.client() as client:
        ids = [f"pipe-{index:02d}" for index in range(23)]
        for pipeline_id in ids:
            client.send({"type": "RegisterPipeline", "pipelineId": pipeline_id, "name": "n"})
        client.update_status("pipe-07", "running", 1, 0)
        client.update_status("pipe-19", "running", 1, 0)

        first = client.list_page(limit=5)
        assert [p.pipeline_id for p in first.items] == ids[:5] and first.next == "pipe-04"
        assert [p.pipeline_id for p in client.list_pipelines(page_size=5)] == ids
        assert [p.pipeline_id for p in client.list_pipelines(page_size=1000)] == ids
        running = client.list_pipelines(status=PipelineStatus.RUNNING, page_size=2)
        assert [p.pipeline_id for p in running] == ["pipe-07", "pipe-19"]


def test_no_broker_is_reported_quickly() -> None:
    settings = Settings(broker=f"127.0.0.1:{free_port()}")
    started = time.monotonic()
    with CoordinatorClient(settings, connect_timeout=1.0) as client:
        with pytest.raises(BrokerUnreachableError, match="no Kafka broker answered at"):
            client.system_status()
    assert time.monotonic() - started < 5


def test_missing_topics_are_named(broker: Broker) -> None:
    settings = Settings(broker=broker.bootstrap, topic_prefix="never-created")
    with CoordinatorClient(settings) as client:
        with pytest.raises(TopicNotFoundError, match="coordinator topics create"):
            client.register("p1", "Pipeline 1")
