"""What each client call sends and how its reply reads: the part both clients share.

Nothing here touches Kafka. A ``Call`` pairs a command with the reader that turns the value of an
accepted reply into the domain model the caller gets back; ``prepare`` turns a command into the
bytes to send, with the ids that a retry must send again. The synchronous and the asyncio client
only move those bytes and wait, each in its own way.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Self, TypeVar, overload

from coordinator.client.errors import ClientError, CommandRefusedError, ReplyTimeoutError
from coordinator.config import Settings
from coordinator.domain.commands import (
    FIRE_AND_FORGET,
    CheckResourceAvailability,
    CommandModel,
    GetPipelineInfo,
    GetSystemStatus,
    ListPipelines,
    RegisterPipeline,
    ReportResourceUsage,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.model import PipelineInfo, PipelineStatus
from coordinator.domain.replies import PipelinePage, Reply, ReplyValue, StateSummary, SystemStatus

if TYPE_CHECKING:
    from coordinator.client.shared import AwaitingCore, BlockingCore

T = TypeVar("T")
P = ParamSpec("P")


class Delivery(Enum):
    """How a client call goes out."""

    REQUEST = "request"
    """Sent with a reply topic; the call returns the value of the reply."""
    SEND = "send"
    """Fire and forget: the call returns once the broker has the command."""
    CONFIRM = "confirm"
    """Fire and forget, then wait until it is known to be applied (a refusal raises)."""


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """A command, how it goes out, and how to read the value of its reply."""

    command: CommandModel
    read: Callable[[ReplyValue], T]
    delivery: Delivery = Delivery.REQUEST


def _fire(command: CommandModel, confirm: bool) -> Call[None]:
    return Call(command, lambda _value: None, Delivery.CONFIRM if confirm else Delivery.SEND)


@dataclass(frozen=True, slots=True)
class Request:
    """A command ready to send: the bytes, and the ids its reply (and any retry) carries."""

    command_type: str
    command_id: str
    correlation_id: str
    payload: bytes


def _instance_of(kind: type[T]) -> Callable[[ReplyValue], T]:
    def read(value: ReplyValue) -> T:
        if isinstance(value, kind):
            return value
        raise ClientError(
            f"unexpected reply value: wanted {kind.__name__}, got {type(value).__name__}"
        )

    return read


def _pipeline_or_none(value: ReplyValue) -> PipelineInfo | None:
    return None if value is None else _instance_of(PipelineInfo)(value)


def status_of(status: PipelineStatus | str) -> PipelineStatus:
    """A pipeline status given in any case (``"RUNNING"``, ``PipelineStatus.RUNNING``)."""
    try:
        return PipelineStatus(str(status).lower())
    except ValueError:
        known = ", ".join(member.value for member in PipelineStatus)
        raise ValueError(f"unknown pipeline status {status!r}; one of: {known}") from None


# -- the calls --------------------------------------------------------------------------------


def register(pipeline_id: str, name: str, command_id: str | None = None) -> Call[StateSummary]:
    """Register a pipeline; the reply is the state summary after it."""
    command = RegisterPipeline(pipeline_id=pipeline_id, name=name, command_id=command_id)
    return Call(command, _instance_of(StateSummary))


def unregister(pipeline_id: str, command_id: str | None = None) -> Call[StateSummary]:
    """Remove a pipeline; the reply is the state summary after it (with its last info)."""
    command = UnregisterPipeline(pipeline_id=pipeline_id, command_id=command_id)
    return Call(command, _instance_of(StateSummary))


def check_resources(cpu_percent: float, memory_mb: int) -> Call[bool]:
    """Whether the estimated usage fits under the limits."""
    command = CheckResourceAvailability(
        estimated_cpu_percent=cpu_percent, estimated_memory_mb=memory_mb
    )
    return Call(command, _instance_of(bool))


def system_status() -> Call[SystemStatus]:
    """Health, counts, totals, limits, and the pipelines if they fit in one reply."""
    return Call(GetSystemStatus(), _instance_of(SystemStatus))


def pipeline_info(pipeline_id: str) -> Call[PipelineInfo | None]:
    """One pipeline's info, or None if it is not registered."""
    return Call(GetPipelineInfo(pipeline_id=pipeline_id), _pipeline_or_none)


def list_page(
    status: PipelineStatus | str | None = None,
    limit: int | None = None,
    after: str | None = None,
) -> Call[PipelinePage]:
    """One page of pipelines in id order; pass the page's ``next`` as ``after`` for the next."""
    wanted = status_of(status) if status is not None else None
    command = ListPipelines(status=wanted, limit=limit, after=after)
    return Call(command, _instance_of(PipelinePage))


def update_status(
    pipeline_id: str,
    status: PipelineStatus | str,
    total_records: int,
    failed_records: int,
    command_id: str | None = None,
    *,
    confirm: bool = False,
) -> Call[None]:
    """A status report: fire and forget; with ``confirm=True``, wait for the outcome (a
    refusal raises)."""
    report = UpdatePipelineStatus(
        pipeline_id=pipeline_id,
        status=status_of(status),
        total_records=total_records,
        failed_records=failed_records,
        command_id=command_id,
    )
    return _fire(report, confirm)


def report_resources(
    pipeline_id: str,
    cpu_percent: float,
    memory_mb: int,
    command_id: str | None = None,
    *,
    confirm: bool = False,
) -> Call[None]:
    """A resource report (replacing the one before): fire and forget, or confirmed as above."""
    usage = ReportResourceUsage(
        pipeline_id=pipeline_id, cpu_percent=cpu_percent, memory_mb=memory_mb, command_id=command_id
    )
    return _fire(usage, confirm)


class CallOf(Generic[P, T]):
    """A call of both clients, made from its builder: blocking on one, awaitable on the other."""

    def __init__(self, builder: Callable[P, Call[T]]) -> None:
        self.builder = builder
        functools.update_wrapper(self, builder)  # type: ignore[arg-type]  # name and docstring

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: BlockingCore, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AwaitingCore, owner: type[Any]) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, client: Any, owner: type[Any]) -> Any:
        # Each client binds it its own way (``BlockingCore._bind``, ``AwaitingCore._bind``).
        return self if client is None else client._bind(self.builder)


class CommandCalls:
    """Every command call of both clients, once: a new call is its builder above, and a line
    here."""

    register = CallOf(register)
    unregister = CallOf(unregister)
    update_status = CallOf(update_status)
    report_resources = CallOf(report_resources)
    check_resources = CallOf(check_resources)
    system_status = CallOf(system_status)
    pipeline_info = CallOf(pipeline_info)
    list_page = CallOf(list_page)


def barrier() -> Call[PipelinePage]:
    """A query sent right after a fire-and-forget command to learn whether it was refused.

    The commands topic has one partition and a client's reply topic too, so by the time this
    query's reply arrives, a refusal of the command before it has arrived as well.
    """
    return list_page(limit=1)


class Paging:
    """Where a listing of every pipeline is: the call for the next page, until there is none."""

    def __init__(self, status: PipelineStatus | str | None, page_size: int | None) -> None:
        self.status = status
        self.page_size = page_size
        self.after: str | None = None
        self.done = False

    def next_call(self) -> Call[PipelinePage] | None:
        return None if self.done else list_page(self.status, self.page_size, self.after)

    def take(self, page: PipelinePage) -> list[PipelineInfo]:
        """The page's pipelines; the next call asks for those after them."""
        self.after = page.next
        self.done = page.next is None
        return page.items


# -- requests and replies ---------------------------------------------------------------------


def document_of(command: CommandModel | Mapping[str, Any]) -> dict[str, Any]:
    """The command as the JSON object it is on the wire (camelCase, no null fields)."""
    if isinstance(command, CommandModel):
        return command.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dict(command)


def encode(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def expects_reply(document: Mapping[str, Any]) -> bool:
    """False for the fire-and-forget types, which are answered only when refused."""
    kind = document.get("type")
    return not (isinstance(kind, str) and kind.lower() in FIRE_AND_FORGET)


def prepare(command: CommandModel | Mapping[str, Any], reply_topic: str | None) -> Request:
    """The bytes to send. A ``commandId`` is added when missing (a fresh UUID); it doubles as
    the correlation id, so that a retry of the same ``Request`` is applied at most once."""
    document = document_of(command)
    if reply_topic is not None:
        document.setdefault("commandId", uuid.uuid4().hex)
        document.setdefault("correlationId", document["commandId"])
        document["replyTo"] = reply_topic
    return Request(
        command_type=str(document.get("type")),
        command_id=str(document.get("commandId", "")),
        correlation_id=str(document.get("correlationId", "")),
        payload=encode(document),
    )


def payloads(request: Request, before: bytes | None) -> tuple[bytes, ...]:
    """What one attempt sends: ``before`` (a fire-and-forget command a barrier follows), if any,
    then the request itself."""
    return (request.payload,) if before is None else (before, request.payload)


def value_of(call: Call[T], reply: Reply) -> T:
    """The value of an accepted reply, or ``CommandRefusedError`` with the refusal's code."""
    if not reply.ok:
        raise CommandRefusedError(reply)
    return call.read(reply.value)


def raise_if_refused(reply: Reply | None) -> None:
    """For a fire-and-forget command: no reply by the barrier means it was accepted."""
    if reply is not None and not reply.ok:
        raise CommandRefusedError(reply)


def timeout_error(
    request: Request, settings: Settings, timeout: float, attempts: int
) -> ReplyTimeoutError:
    return ReplyTimeoutError(
        f"no reply to {request.command_type} within {timeout * attempts:g} s "
        f"({attempts} attempt{'s' if attempts != 1 else ''}, commandId {request.command_id}): "
        f"is a coordinator worker running against {settings.broker} with topic prefix "
        f"{settings.topic_prefix!r}? Start one with `coordinator worker`, or check "
        "COORDINATOR_TOPIC_PREFIX (--prefix). Retrying with the same commandId is safe."
    )
