"""The asyncio client: the same calls as ``CoordinatorClient``, awaitable.

It shares the synchronous client's Kafka side (``Transport``) and its calls (``calls``): the
producer's delivery reports and the reply listener run in their own threads and complete
``concurrent.futures`` futures, which this client awaits through ``asyncio.wrap_future`` (the
result crosses into the event loop with ``call_soon_threadsafe``). Only the first contact with
the broker and closing block, and they run in a worker thread. Waiting for a reply holds no
thread, so a thousand requests may be in flight at once.

confluent-kafka 2.16 also ships an experimental ``confluent_kafka.aio`` (AIOProducer,
AIOConsumer); it batches produce calls behind a buffer timeout and runs every consumer call in
a thread pool, so it would add latency to each request and still leave the reply matching to
us. The threads we already have for the synchronous client are enough.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

from coordinator.client import calls
from coordinator.client.replies import ReplyListener
from coordinator.client.transport import Transport
from coordinator.config import Settings
from coordinator.domain.commands import CommandModel
from coordinator.domain.model import PipelineInfo, PipelineStatus
from coordinator.domain.replies import PipelinePage, Reply, StateSummary, SystemStatus
from topics.definitions import AGGREGATE_ID

T = TypeVar("T")


class AsyncCoordinatorClient:
    """A connection to the coordinator for asyncio code. Use as an async context manager.

    Options as for ``CoordinatorClient``: ``timeout`` per attempt, ``retries`` re-sends with
    the same ``commandId``, ``connect_timeout`` for the first contact with the broker.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        connect_timeout: float = 5.0,
        reply_topic: str | None = None,
        label: str = "client",
    ) -> None:
        self.settings = settings if settings is not None else Settings()
        self.timeout = timeout
        self.retries = retries
        self._transport = Transport(
            self.settings,
            timeout=timeout,
            connect_timeout=connect_timeout,
            reply_topic=reply_topic,
            label=label,
        )

    async def __aenter__(self) -> AsyncCoordinatorClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def connect(self) -> AsyncCoordinatorClient:
        """Check now that the broker answers and the topics exist (else on first use)."""
        if not self._transport.connected:
            await asyncio.to_thread(self._transport.connect)
        return self

    async def _listener(self) -> ReplyListener:
        listener = self._transport.current_listener
        if listener is None:
            listener = await asyncio.to_thread(self._transport.listener)
        return listener

    async def reply_topic(self) -> str:
        """This client's reply topic, created on first use."""
        return (await self._listener()).topic

    # -- sending ------------------------------------------------------------------------------

    async def send_raw(self, value: bytes | str, key: bytes | str | None = AGGREGATE_ID) -> None:
        """Produce bytes to the commands topic as they are (for tools and tests)."""
        await self.connect()
        delivered = asyncio.wrap_future(self._transport.produce(value, key))
        try:
            await asyncio.wait_for(delivered, self._transport.delivery_wait)
        except TimeoutError:
            raise self._transport.delivery_timed_out() from None

    async def send(self, command: CommandModel | Mapping[str, Any]) -> None:
        """Fire and forget: returns once the broker has the command."""
        await self.send_raw(calls.prepare(command, None).payload)

    async def request(self, command: CommandModel | Mapping[str, Any]) -> Reply:
        """Send ``command`` and wait for its reply (retrying with the same ``commandId``)."""
        return await self._request(command)

    async def request_value(self, call: calls.Call[T]) -> T:
        """Send ``call``'s command and read the value of its reply (refusals raise)."""
        return calls.value_of(call, await self._request(call.command))

    async def confirm(self, command: CommandModel | Mapping[str, Any]) -> None:
        """Send a fire-and-forget command and wait until it is known to be applied or refused
        (see ``CoordinatorClient.confirm``)."""
        listener = await self._listener()
        request = calls.prepare(command, listener.topic)
        outcome = listener.expect(request.correlation_id)
        try:
            barrier = calls.barrier()
            calls.value_of(barrier, await self._request(barrier.command, before=request.payload))
            # The listener thread completed ``outcome`` before the barrier's reply.
            calls.raise_if_refused(outcome.result(0) if outcome.done() else None)
        finally:
            listener.forget(request.correlation_id)

    async def _request(
        self, command: CommandModel | Mapping[str, Any], before: bytes | None = None
    ) -> Reply:
        listener = await self._listener()
        request = calls.prepare(command, listener.topic)
        reply = asyncio.wrap_future(listener.expect(request.correlation_id))
        try:
            for _attempt in range(self.retries + 1):
                if before is not None:
                    await self.send_raw(before)
                await self.send_raw(request.payload)
                try:
                    # shield: a timed-out attempt must not cancel the reply the next one awaits.
                    return await asyncio.wait_for(asyncio.shield(reply), self.timeout)
                except TimeoutError:
                    continue
        finally:
            if not reply.done():
                reply.cancel()
                listener.forget(request.correlation_id)
        raise calls.timeout_error(request, self.settings, self.timeout, self.retries + 1)

    # -- the commands -------------------------------------------------------------------------

    async def register(
        self, pipeline_id: str, name: str, command_id: str | None = None
    ) -> StateSummary:
        return await self.request_value(calls.register(pipeline_id, name, command_id))

    async def unregister(self, pipeline_id: str, command_id: str | None = None) -> StateSummary:
        return await self.request_value(calls.unregister(pipeline_id, command_id))

    async def update_status(
        self,
        pipeline_id: str,
        status: PipelineStatus | str,
        total_records: int,
        failed_records: int,
        command_id: str | None = None,
        *,
        confirm: bool = False,
    ) -> None:
        """Fire and forget; with ``confirm=True``, wait for the outcome (refusals raise)."""
        command = calls.update_status(
            pipeline_id, status, total_records, failed_records, command_id
        )
        if confirm:
            await self.confirm(command)
        else:
            await self.send(command)

    async def report_resources(
        self,
        pipeline_id: str,
        cpu_percent: float,
        memory_mb: int,
        command_id: str | None = None,
        *,
        confirm: bool = False,
    ) -> None:
        """Fire and forget; with ``confirm=True``, wait for the outcome (refusals raise)."""
        command = calls.report_resources(pipeline_id, cpu_percent, memory_mb, command_id)
        if confirm:
            await self.confirm(command)
        else:
            await self.send(command)

    async def check_resources(self, cpu_percent: float, memory_mb: int) -> bool:
        return await self.request_value(calls.check_resources(cpu_percent, memory_mb))

    async def system_status(self) -> SystemStatus:
        return await self.request_value(calls.system_status())

    async def pipeline_info(self, pipeline_id: str) -> PipelineInfo | None:
        return await self.request_value(calls.pipeline_info(pipeline_id))

    async def list_page(
        self,
        status: PipelineStatus | str | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> PipelinePage:
        return await self.request_value(calls.list_page(status, limit, after))

    async def list_pipelines(
        self, status: PipelineStatus | str | None = None, page_size: int | None = None
    ) -> AsyncIterator[PipelineInfo]:
        """Every pipeline (optionally of one status) in ``pipelineId`` order, page by page."""
        after: str | None = None
        while True:
            page = await self.list_page(status, page_size, after)
            for info in page.items:
                yield info
            if page.next is None:
                return
            after = page.next

    async def flush(self) -> None:
        await asyncio.to_thread(self._transport.flush)

    async def close(self) -> None:
        await asyncio.to_thread(self._transport.close)
