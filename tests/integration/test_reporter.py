"""The pipeline-side reporter against a real worker, with short intervals: registration,
periodic status updates and resource reports, ``lastHeartbeat`` moving, and unregistration on
a clean exit and on an exception, for the thread-based and the asyncio reporter."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from coordinator.client import (
    AsyncPipelineReporter,
    CoordinatorClient,
    PipelineReporter,
    Progress,
    ResourceSample,
)
from coordinator.domain.events import (
    Event,
    PipelineRegistered,
    PipelineStatusUpdated,
    PipelineUnregistered,
    ResourceUsageReported,
)
from coordinator.domain.model import PipelineStatus
from tests.fixtures.workers import Deployment
from tests.integration.support import journal

pytestmark = pytest.mark.integration

FAST = {"status_interval": 0.3, "resource_interval": 0.5}


def events_of(deployment: Deployment, pipeline_id: str) -> list[Event]:
    return [e for e in journal(deployment.settings) if e.pipeline_id == pipeline_id]


def kinds(events: list[Event]) -> list[type[Event]]:
    return [type(e) for e in events]


def status_of(client: CoordinatorClient, pipeline_id: str) -> PipelineStatus | None:
    info = client.pipeline_info(pipeline_id)
    return info.status if info is not None else None


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_reporter_registers_reports_and_unregisters(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()
    with deployment.client() as client:
        with PipelineReporter("p1", "Pipeline 1", client=client, **FAST) as reporter:
            info = client.pipeline_info("p1")
            assert info is not None and info.status is PipelineStatus.RUNNING  # sent at start
            first_heartbeat = info.last_heartbeat

            reporter.add_records(100, failed=3)
            reporter.add_records(50)
            eventually(lambda: reporter.sent_status >= 4 and reporter.sent_resources >= 2)
            info = client.pipeline_info("p1")
            assert info is not None
            assert (info.total_records, info.failed_records) == (150, 3)
            assert info.last_heartbeat > first_heartbeat
            assert info.memory_mb > 10  # this test process's resident memory
            assert 0.0 <= info.cpu_percent <= 100.0

            reporter.set_status("paused")  # sent at once, not at the next tick
            eventually(lambda: status_of(client, "p1") is PipelineStatus.PAUSED)

        assert client.pipeline_info("p1") is None
        events = events_of(deployment, "p1")
        assert kinds(events)[0] is PipelineRegistered
        assert kinds(events)[-1] is PipelineUnregistered
        assert kinds(events).count(PipelineStatusUpdated) >= 4
        assert kinds(events).count(ResourceUsageReported) >= 2
        # A clean exit unregisters without a final status of its own.
        assert not any(
            isinstance(e, PipelineStatusUpdated) and e.status is PipelineStatus.FAILED
            for e in events
        )


def test_reporter_on_exception_reports_failed_then_unregisters(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()
    with deployment.client() as client:
        client.register("p2", "Registered before a restart")
        with pytest.raises(RuntimeError, match="boom"):
            # Default intervals: nothing periodic happens before the exception.
            with PipelineReporter("p2", "Pipeline 2", settings=deployment.settings) as rep:
                rep.set_records(10, 1)
                raise RuntimeError("boom")

        assert client.pipeline_info("p2") is None
        events = events_of(deployment, "p2")
        assert kinds(events) == [
            PipelineRegistered,  # by the client: the reporter found it registered and went on
            PipelineStatusUpdated,  # running, at start
            PipelineStatusUpdated,  # failed, at exit
            PipelineUnregistered,
        ]
        final = events[2]
        assert isinstance(final, PipelineStatusUpdated)
        assert (final.status, final.total_records, final.failed_records) == (
            PipelineStatus.FAILED,
            10,
            1,
        )

        # Staying registered: the final status is sent and the pipeline is kept.
        progress = Progress(PipelineStatus.RUNNING, 7, 0)
        with PipelineReporter(
            "p3",
            "Pipeline 3",
            client=client,
            progress=lambda: progress,
            resources=lambda: ResourceSample(cpu_percent=12.5, memory_mb=640),
            unregister_on_exit=False,
            **FAST,
        ) as reporter:
            eventually(lambda: reporter.sent_resources >= 1)
        kept = client.pipeline_info("p3")
        assert kept is not None
        assert (kept.status, kept.total_records, kept.cpu_percent, kept.memory_mb) == (
            PipelineStatus.STOPPED,
            7,
            12.5,
            640,
        )


def test_async_reporter(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()

    async def clean() -> None:
        async with AsyncPipelineReporter(
            "a1", "Async 1", settings=deployment.settings, **FAST
        ) as reporter:
            reporter.add_records(42, failed=1)
            while reporter.sent_status < 3 or reporter.sent_resources < 2:
                await asyncio.sleep(0.1)
            # From another thread, as pipeline code running in an executor would.
            await asyncio.to_thread(reporter.set_status, PipelineStatus.PAUSED)
            sent = reporter.sent_status
            while reporter.sent_status == sent:
                await asyncio.sleep(0.05)

    async def failing() -> None:
        async with AsyncPipelineReporter("a2", "Async 2", settings=deployment.settings, **FAST):
            raise ValueError("bad record")

    asyncio.run(clean())
    with pytest.raises(ValueError, match="bad record"):
        asyncio.run(failing())

    clean_events = events_of(deployment, "a1")
    assert kinds(clean_events)[0] is PipelineRegistered
    assert kinds(clean_events)[-1] is PipelineUnregistered
    updates = [e for e in clean_events if isinstance(e, PipelineStatusUpdated)]
    assert len(updates) >= 4
    assert updates[-1].status is PipelineStatus.PAUSED and updates[-1].total_records == 42
    heartbeats = [e.timestamp for e in clean_events if not isinstance(e, PipelineRegistered)]
    assert heartbeats == sorted(heartbeats) and heartbeats[0] < heartbeats[-1]
    assert kinds(clean_events).count(ResourceUsageReported) >= 2

    failed_events = events_of(deployment, "a2")
    assert kinds(failed_events) == [
        PipelineRegistered,
        PipelineStatusUpdated,
        PipelineStatusUpdated,
        PipelineUnregistered,
    ]
    assert isinstance(failed_events[2], PipelineStatusUpdated)
    assert failed_events[2].status is PipelineStatus.FAILED
    with CoordinatorClient(deployment.settings) as client:
        assert client.system_status().health.total_pipelines == 0
