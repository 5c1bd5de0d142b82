"""What the synchronous and the asyncio client share, written once.

Both hold the same settings, attempt policy and Kafka ``Transport`` (``ClientCore``); each binds
the calls of ``calls.CommandCalls`` its own way: blocking (``BlockingCore``) or as coroutines
(``AwaitingCore``), with the builder's parameters and docstring. So the two clients cannot drift
apart.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from coordinator.client import requests
from coordinator.client.errors import ReplyTimeoutError
from coordinator.client.transport import Transport
from coordinator.config import Settings
from coordinator.domain.commands import CommandModel

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

Sendable = CommandModel | Mapping[str, Any]


class ClientCore:
    """Settings, the attempt policy and the transport: the constructor both clients share.

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

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def _timed_out(self, request: requests.Request) -> ReplyTimeoutError:
        return requests.timeout_error(request, self.settings, self.timeout, self.attempts)


class BlockingCore(ClientCore):
    """A client whose calls block until their reply."""

    def request_value(self, call: requests.Call[T]) -> T:
        raise NotImplementedError

    def send(self, command: Sendable) -> None:
        raise NotImplementedError

    def confirm(self, command: Sendable) -> None:
        raise NotImplementedError

    def _bind(self, builder: Callable[P, requests.Call[T]]) -> Callable[P, T]:
        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            made = builder(*args, **kwargs)
            match made.delivery:
                case requests.Delivery.REQUEST:
                    return self.request_value(made)
                case requests.Delivery.SEND:
                    self.send(made.command)
                case requests.Delivery.CONFIRM:
                    self.confirm(made.command)
            return made.read(None)

        return _like(builder, call)


class AwaitingCore(ClientCore):
    """A client whose calls are coroutines."""

    async def request_value(self, call: requests.Call[T]) -> T:
        raise NotImplementedError

    async def send(self, command: Sendable) -> None:
        raise NotImplementedError

    async def confirm(self, command: Sendable) -> None:
        raise NotImplementedError

    def _bind(self, builder: Callable[P, requests.Call[T]]) -> Callable[P, Awaitable[T]]:
        async def call(*args: P.args, **kwargs: P.kwargs) -> T:
            made = builder(*args, **kwargs)
            if made.delivery is requests.Delivery.REQUEST:
                return await self.request_value(made)
            deliver = self.confirm if made.delivery is requests.Delivery.CONFIRM else self.send
            await deliver(made.command)
            return made.read(None)

        return _like(builder, call)


def _like(builder: Callable[..., Any], method: F) -> F:
    """``method`` named, documented and signed as ``builder`` (what it returns aside)."""
    functools.update_wrapper(method, builder)
    signature = inspect.signature(builder).replace(return_annotation=inspect.Signature.empty)
    method.__signature__ = signature  # type: ignore[attr-defined]  # read by inspect and help()
    return method
