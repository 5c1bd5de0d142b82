"""The synchronous client: every command as a typed, blocking method.

Requests carry a ``commandId`` (a fresh UUID unless given) which doubles as the correlation id;
after ``timeout`` seconds without a reply the same bytes are sent again (``retries`` times), so
the coordinator applies the command at most once and answers with the original reply. Refusals
raise ``CommandRefusedError`` with the refusal's code; no reply at all raises ``ReplyTimeoutError``.
The client is thread-safe: a reporter thread and the main thread may share one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from coordinator.client import calls, requests
from coordinator.client.shared import BlockingCore
from coordinator.domain.commands import CommandModel
from coordinator.domain.model import PipelineInfo, PipelineStatus
from coordinator.domain.replies import Reply
from topics.definitions import AGGREGATE_ID

T = TypeVar("T")


class CoordinatorClient(calls.CommandCalls, BlockingCore):
    """A connection to the coordinator through its topics. Use as a context manager.

    ``timeout`` is how long each attempt waits for a reply (and for the broker to take a
    command); a call gives up with ``ReplyTimeoutError`` after ``retries + 1`` attempts.
    ``connect_timeout`` bounds the first contact with the broker. Settings (broker, topic prefix,
    SASL/SSL) come from ``COORDINATOR_*`` unless given.
    """

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
        self._transport.send(requests.prepare(command, None).payload)

    def request(self, command: CommandModel | Mapping[str, Any]) -> Reply:
        """Send ``command`` and wait for its reply (retrying with the same ``commandId``)."""
        return self._request(command)

    def request_value(self, call: requests.Call[T]) -> T:
        """Send ``call``'s command and read the value of its reply (refusals raise)."""
        return requests.value_of(call, self._request(call.command))

    def confirm(self, command: CommandModel | Mapping[str, Any]) -> None:
        """Send a fire-and-forget command and wait until it is known to be applied or refused.

        A query follows the command; when its reply arrives, a refusal of the command would
        have arrived before it. Raises ``CommandRefusedError`` if the command was refused.
        """
        listener = self._transport.listener()
        request = requests.prepare(command, listener.topic)
        outcome = listener.expect(request.correlation_id)
        try:
            barrier = calls.barrier()
            requests.value_of(barrier, self._request(barrier.command, before=request.payload))
            requests.raise_if_refused(outcome.result(0) if outcome.done() else None)
        finally:
            listener.forget(request.correlation_id)

    def _request(
        self, command: CommandModel | Mapping[str, Any], before: bytes | None = None
    ) -> Reply:
        listener = self._transport.listener()
        request = requests.prepare(command, listener.topic)
        with listener.awaiting(request.correlation_id) as reply:
            for _attempt in range(self.attempts):
                for payload in requests.payloads(request, before):
                    self._transport.send(payload)
                with contextlib.suppress(FutureTimeout):
                    return reply.result(self.timeout)
        raise self._timed_out(request)

    # -- the commands: ``calls.CommandCalls``, and the listing of all pipelines ----------------

    def list_pipelines(
        self,
        status: PipelineStatus | str | None = None,
        page_size: int | None = None,
        *,
        group: str | None = None,
        selector: str | None = None,
        name_prefix: str | None = None,
    ) -> Iterator[PipelineInfo]:
        """Every pipeline (optionally only those of one status, of one group, matching a label
        selector, with a name prefix) in ``pipelineId`` order, page by page."""
        paging = calls.Paging(status, page_size, group, selector, name_prefix)
        while (call := paging.next_call()) is not None:
            yield from paging.take(self.request_value(call))

    def flush(self) -> None:
        self._transport.flush()

    def close(self) -> None:
        self._transport.close()
