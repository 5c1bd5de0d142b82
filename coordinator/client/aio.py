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
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

from coordinator.client import calls, requests
from coordinator.client.replies import ReplyListener
from coordinator.client.shared import AwaitingCore
from coordinator.domain.commands import CommandModel
from coordinator.domain.model import PipelineInfo, PipelineStatus
from coordinator.domain.replies import Reply
from topics.definitions import AGGREGATE_ID

T = TypeVar("T")


class AsyncCoordinatorClient(calls.CommandCalls, AwaitingCore):
    """A connection to the coordinator for asyncio code. Use as an async context manager.

    Options as for ``CoordinatorClient``: ``timeout`` per attempt, ``retries`` re-sends with
    the same ``commandId``, ``connect_timeout`` for the first contact with the broker.
    """

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
        await self.send_raw(requests.prepare(command, None).payload)

    async def request(self, command: CommandModel | Mapping[str, Any]) -> Reply:
        """Send ``command`` and wait for its reply (retrying with the same ``commandId``)."""
        return await self._request(command)

    async def request_value(self, call: requests.Call[T]) -> T:
        """Send ``call``'s command and read the value of its reply (refusals raise)."""
        return requests.value_of(call, await self._request(call.command))

    async def confirm(self, command: CommandModel | Mapping[str, Any]) -> None:
        """Send a fire-and-forget command and wait until it is known to be applied or refused
        (see ``CoordinatorClient.confirm``)."""
        listener = await self._listener()
        request = requests.prepare(command, listener.topic)
        outcome = listener.expect(request.correlation_id)
        try:
            barrier = calls.barrier()
            requests.value_of(barrier, await self._request(barrier.command, before=request.payload))
            # The listener thread completed ``outcome`` before the barrier's reply.
            requests.raise_if_refused(outcome.result(0) if outcome.done() else None)
        finally:
            listener.forget(request.correlation_id)

    async def _request(
        self, command: CommandModel | Mapping[str, Any], before: bytes | None = None
    ) -> Reply:
        listener = await self._listener()
        request = requests.prepare(command, listener.topic)
        with listener.awaiting(request.correlation_id) as future:
            reply = asyncio.wrap_future(future)
            try:
                for _attempt in range(self.attempts):
                    for payload in requests.payloads(request, before):
                        await self.send_raw(payload)
                    with contextlib.suppress(TimeoutError):
                        # shield: a timed-out attempt must not cancel the reply the next awaits.
                        return await asyncio.wait_for(asyncio.shield(reply), self.timeout)
            finally:
                reply.cancel()  # nothing awaits it any more (once it has come, a no-op)
        raise self._timed_out(request)

    # -- the commands: ``calls.CommandCalls``, and the listing of all pipelines ----------------

    async def list_pipelines(
        self,
        status: PipelineStatus | str | None = None,
        page_size: int | None = None,
        *,
        group: str | None = None,
        selector: str | None = None,
        name_prefix: str | None = None,
    ) -> AsyncIterator[PipelineInfo]:
        """Every pipeline (optionally only those of one status, of one group, matching a label
        selector, with a name prefix) in ``pipelineId`` order, page by page."""
        paging = calls.Paging(status, page_size, group, selector, name_prefix)
        while (call := paging.next_call()) is not None:
            for info in paging.take(await self.request_value(call)):
                yield info

    async def flush(self) -> None:
        await asyncio.to_thread(self._transport.flush)

    async def close(self) -> None:
        await asyncio.to_thread(self._transport.close)
