"""The asyncio client against a real broker and worker: every call, refusals, concurrent
requests, paging, timeouts without a worker, and "no broker".

Coroutines run with ``asyncio.run`` inside plain tests (no pytest-asyncio needed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

import pytest

from coordinator.client import (
    AsyncCoordinatorClient,
    BrokerUnreachableError,
    CommandRefusedError,
    ReplyTimeoutError,
)
from coordinator.config import Settings
from coordinator.domain.model import HealthStatus, PipelineStatus
from coordinator.domain.replies import ErrorCode
from tests.fixtures.broker import free_port
from tests.fixtures.workers import Deployment
from tests.integration.support import assert_worker_matches_journal, journal

pytestmark = pytest.mark.integration


async def refusal(call: Awaitable[object]) -> ErrorCode:
    with pytest.raises(CommandRefusedError) as refused:
        await call
    return refused.value.code


def client_of(deployment: Deployment, **options: float) -> AsyncCoordinatorClient:
    settings: dict[str, float] = {"timeout": 15.0, "retries": 1, **options}
    return AsyncCoordinatorClient(deployment.settings, **settings)  # type: ignore[arg-type]


def test_every_async_call_with_its_refusals(deployment: Deployment) -> None:
    deployment.worker().start().wait_serving()

    async def scenario() -> None:
        async with client_of(deployment) as client:
            assert (await client.system_status()).health.status is HealthStatus.IDLE
            summary = await client.register("p1", "Pipeline 1")
            assert (summary.pipeline_id, summary.total_pipelines) == ("p1", 1)
            assert (
                await refusal(client.register("p1", "again"))
                is ErrorCode.PIPELINE_ALREADY_REGISTERED
            )

            await client.update_status("p1", "running", 500, 2)
            await client.report_resources("p1", 12.5, 512, confirm=True)
            assert (
                await refusal(client.update_status("ghost", "running", 1, 0, confirm=True))
                is ErrorCode.PIPELINE_NOT_FOUND
            )
            assert (
                await refusal(client.report_resources("p1", -3.0, 1, confirm=True))
                is ErrorCode.INVALID_ARGUMENT
            )

            info = await client.pipeline_info("p1")
            assert info is not None
            assert (info.status, info.total_records, info.failed_records) == (
                PipelineStatus.RUNNING,
                500,
                2,
            )
            assert (info.cpu_percent, info.memory_mb) == (12.5, 512)
            assert await client.pipeline_info("ghost") is None
            assert await client.check_resources(67.5, 100) is True
            assert await client.check_resources(67.6, 100) is False
            assert await refusal(client.check_resources(1.0, -1)) is ErrorCode.INVALID_ARGUMENT

            # Many requests in flight at once, each matched to its own reply.
            ids = [f"pipe-{index:02d}" for index in range(30)]
            summaries = await asyncio.gather(*(client.register(i, f"n {i}") for i in ids))
            assert sorted(s.pipeline_id for s in summaries) == ids
            assert max(s.total_pipelines for s in summaries) == 31

            listed = [info.pipeline_id async for info in client.list_pipelines(page_size=7)]
            assert listed == ["p1", *ids]  # "p1" < "pipe-00"
            running = [p.pipeline_id async for p in client.list_pipelines(status="RUNNING")]
            assert running == ["p1"]
            page = await client.list_page(limit=7)
            assert len(page.items) == 7 and page.next == "pipe-05"

            status = await client.system_status()
            assert status.health.total_pipelines == 31
            assert status.count_by_status[PipelineStatus.CONFIGURED] == 30

            raw = await client.request({"type": "GetPipelineInfo", "pipelineId": "  "})
            assert raw.error is not None and raw.error.code is ErrorCode.INVALID_ARGUMENT

            assert await refusal(client.unregister("ghost")) is ErrorCode.PIPELINE_NOT_FOUND
            gone = await client.unregister("p1")
            assert gone.total_pipelines == 30 and gone.total_cpu_percent == 0.0

    asyncio.run(scenario())
    with deployment.client() as client:
        assert_worker_matches_journal(deployment.settings, client)


def test_async_timeout_without_worker_then_retry(deployment: Deployment) -> None:
    async def without_worker() -> None:
        async with client_of(deployment, timeout=0.4, retries=2) as client:
            assert await client.reply_topic()  # created now: the figure is the 3 attempts only
            started = time.monotonic()
            with pytest.raises(ReplyTimeoutError, match="3 attempts"):
                await client.unregister("p1", command_id="unregister-p1")
            assert 1.1 < time.monotonic() - started < 8

    asyncio.run(without_worker())
    deployment.worker().start().wait_serving()

    async def with_worker() -> None:
        async with client_of(deployment) as client:
            # The three queued attempts were refused (not registered); nothing was applied.
            assert (await client.system_status()).seq == 0
            await client.register("p1", "Pipeline 1", command_id="register-p1")
            again = await client.register("p1", "Pipeline 1", command_id="register-p1")
            assert again.seq == 1

    asyncio.run(with_worker())
    assert len(journal(deployment.settings)) == 1


def test_async_no_broker_is_reported_quickly() -> None:
    async def scenario() -> None:
        settings = Settings(broker=f"127.0.0.1:{free_port()}")
        async with AsyncCoordinatorClient(settings, connect_timeout=1.0) as client:
            with pytest.raises(BrokerUnreachableError, match="COORDINATOR_BROKER"):
                await client.register("p1", "Pipeline 1")

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < 5
