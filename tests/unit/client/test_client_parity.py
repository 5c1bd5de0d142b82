"""The synchronous and the asyncio client offer the same calls, with the same parameters, and
each call of ``CommandCalls`` does what its builder says on both (no Kafka: fakes record)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from coordinator.client import AsyncCoordinatorClient, CoordinatorClient, calls, requests
from coordinator.client.calls import CallOf, CommandCalls
from coordinator.client.shared import AwaitingCore, BlockingCore

PROPERTY_OR_CALL = {"reply_topic"}
"""A property of the synchronous client, a call of the asyncio one (its first use blocks)."""


def public_calls(client: type) -> dict[str, inspect.Signature]:
    found = {}
    for name in dir(client):
        member = getattr(client, name)
        if name.startswith("_"):
            continue
        if isinstance(member, CallOf):
            found[name] = inspect.signature(member.builder)
        elif callable(member):
            found[name] = inspect.signature(member)
    return found


def test_both_clients_have_the_same_calls_with_the_same_parameters() -> None:
    blocking = public_calls(CoordinatorClient)
    awaiting = public_calls(AsyncCoordinatorClient)

    assert set(blocking) == set(awaiting) - PROPERTY_OR_CALL
    assert all(isinstance(getattr(CoordinatorClient, name), property) for name in PROPERTY_OR_CALL)
    for name, signature in blocking.items():
        assert list(signature.parameters.values()) == list(awaiting[name].parameters.values()), name


def test_the_asyncio_client_s_own_calls_are_coroutines() -> None:
    for name, member in vars(AsyncCoordinatorClient).items():
        if callable(member) and not name.startswith("_"):
            assert inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member), name


class Blocking(CommandCalls, BlockingCore):
    def __init__(self) -> None:  # no transport: nothing is sent
        self.sent: list[tuple[str, Any]] = []

    def request_value(self, call: requests.Call[Any]) -> Any:
        self.sent.append(("request", call.command))
        return "value"

    def send(self, command: Any) -> None:
        self.sent.append(("send", command))

    def confirm(self, command: Any) -> None:
        self.sent.append(("confirm", command))


class Awaiting(CommandCalls, AwaitingCore):
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    async def request_value(self, call: requests.Call[Any]) -> Any:
        self.sent.append(("request", call.command))
        return "value"

    async def send(self, command: Any) -> None:
        self.sent.append(("send", command))

    async def confirm(self, command: Any) -> None:
        self.sent.append(("confirm", command))


def test_a_call_requests_its_builder_s_command_on_both_clients() -> None:
    blocking, awaiting = Blocking(), Awaiting()

    assert blocking.register("p1", "P", command_id="c1") == "value"
    assert asyncio.run(awaiting.register("p1", "P", command_id="c1")) == "value"
    expected = ("request", calls.register("p1", "P", "c1").command)
    assert blocking.sent == awaiting.sent == [expected]


def test_a_fire_and_forget_call_sends_or_confirms_on_both_clients() -> None:
    blocking, awaiting = Blocking(), Awaiting()

    blocking.update_status("p1", "running", 3, 0)
    blocking.report_resources("p1", 1.5, 64, confirm=True)
    asyncio.run(awaiting.update_status("p1", "running", 3, 0))
    asyncio.run(awaiting.report_resources("p1", 1.5, 64, confirm=True))

    status = calls.update_status("p1", "running", 3, 0).command
    resources = calls.report_resources("p1", 1.5, 64).command
    assert blocking.sent == awaiting.sent == [("send", status), ("confirm", resources)]


def test_a_bound_call_reads_like_a_method() -> None:
    bound = Blocking().update_status

    signature = inspect.signature(bound)
    assert next(iter(signature.parameters)) == "pipeline_id"
    assert signature.parameters["confirm"].kind is inspect.Parameter.KEYWORD_ONLY
    assert signature.return_annotation is inspect.Signature.empty
    assert bound.__name__ == "update_status"
    assert Blocking().register.__doc__ == calls.register.__doc__
