"""The synchronous client: every command of SPEC §3 as a typed, blocking method.

Requests carry a ``commandId`` (a fresh UUID unless given) which doubles as the correlation id;
after ``timeout`` seconds without a reply the same bytes are sent again (``retries`` times), so
the coordinator applies the command at most once and answers with the original reply. Refusals
raise ``CommandRefusedError`` with the SPEC code; no reply at all raises ``ReplyTimeoutError``.
The client is thread-safe: a reporter thread and the main thread may share one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from coordinator.client import calls
from coordinator.client.transport import Transport
from coordinator.config import Settings
from coordinator.domain.commands import CommandModel
from coordinator.domain.model import PipelineInfo, PipelineStatus
from coordinator.domain.replies import PipelinePage, Reply, StateSummary, SystemStatus
from topics.definitions import AGGREGATE_ID

T = TypeVar("T")


class CoordinatorClient:
    """A connection to the coordinator through its topics. Use as a context manager.

    ``timeout`` is how long each attempt waits for a reply (and for the broker to take a
    command); a call gives up with ``ReplyTimeoutError`` after ``retries + 1`` attempts.
    ``connect_timeout`` bounds the first contact with the broker. Settings (broker, topic prefix,
    SASL/SSL) come from ``COORDINATOR_*`` unless given.
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

    def __enter__(self) -> CoordinatorClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def connect(self) -> CoordinatorClient:
        """Check now that the broker answers and the topics exist (else on first use)."""
        self._transport.connect()
        return self

    @property
    def reply_topic(self) -> str:
        """This client's reply topic, created on first use."""
        return self._transport.listener().topic

    # -- sending ------------------------------------------------------------------------------

    def send_raw(self, value: bytes | str, key: bytes | str | None = AGGREGATE_ID) -> None:
        """Produce bytes to the commands topic as they are (for tools and tests)."""
        self._transport.send(value, key)

    def send(self, command: CommandModel | Mapping[str, Any]) -> None:
        """Fire and forget: returns once the broker has the command."""
        self._transport.send(calls.prepare(command, None).payload)

    def request(self, command: CommandModel | Mapping[str, Any]) -> Reply:
        """Send ``command`` and wait for its reply (retrying with the same ``commandId``)."""
        return self._request(command)

    def request_value(self, call: calls.Call[T]) -> T:
        """Send ``call``'s command and read the value of its reply (refusals raise)."""
        return calls.value_of(call, self._request(call.command))

    def confirm(self, command: CommandModel | Mapping[str, Any]) -> None:
        """Send a fire-and-forget command and wait until it is known to be applied or refused.

        A query follows the command; when its reply arrives, a refusal of the command would
        have arrived before it. Raises ``CommandRefusedError`` if the command was refused.
        """
        listener = self._transport.listener()
        request = calls.prepare(command, listener.topic)
        outcome = listener.expect(request.correlation_id)
        try:
            barrier = calls.barrier()
            calls.value_of(barrier, self._request(barrier.command, before=request.payload))
            calls.raise_if_refused(outcome.result(0) if outcome.done() else None)
        finally:
            listener.forget(request.correlation_id)

    def _request(
        self, command: CommandModel | Mapping[str, Any], before: bytes | None = None
    ) -> Reply:
        listener = self._transport.listener()
        request = calls.prepare(command, listener.topic)
        future = listener.expect(request.correlation_id)
        try:
            for _attempt in range(self.retries + 1):
                if before is not None:
                    self._transport.send(before)
                self._transport.send(request.payload)
                try:
                    return future.result(self.timeout)
                except FutureTimeout:
                    continue
        finally:
            if not future.done():
                listener.forget(request.correlation_id)
        raise calls.timeout_error(request, self.settings, self.timeout, self.retries + 1)

    # -- the commands -------------------------------------------------------------------------

    def register(self, pipeline_id: str, name: str, command_id: str | None = None) -> StateSummary:
        return self.request_value(calls.register(pipeline_id, name, command_id))

    def unregister(self, pipeline_id: str, command_id: str | None = None) -> StateSummary:
        return self.request_value(calls.unregister(pipeline_id, command_id))

    def update_status(
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
            self.confirm(command)
        else:
            self.send(command)

    def report_resources(
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
            self.confirm(command)
        else:
            self.send(command)

    def check_resources(self, cpu_percent: float, memory_mb: int) -> bool:
        return self.request_value(calls.check_resources(cpu_percent, memory_mb))

    def system_status(self) -> SystemStatus:
        return self.request_value(calls.system_status())

    def pipeline_info(self, pipeline_id: str) -> PipelineInfo | None:
        return self.request_value(calls.pipeline_info(pipeline_id))

    def list_page(
        self,
        status: PipelineStatus | str | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> PipelinePage:
        return self.request_value(calls.list_page(status, limit, after))

    def list_pipelines(
        self, status: PipelineStatus | str | None = None, page_size: int | None = None
    ) -> Iterator[PipelineInfo]:
        """Every pipeline (optionally of one status) in ``pipelineId`` order, page by page."""
        after: str | None = None
        while True:
            page = self.list_page(status, page_size, after)
            yield from page.items
            if page.next is None:
                return
            after = page.next

    def flush(self) -> None:
        self._transport.flush()

    def close(self) -> None:
        self._transport.close()
