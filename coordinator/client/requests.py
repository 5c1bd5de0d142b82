"""How a client call travels: the command's bytes, its ids, and what its reply means.

Nothing here touches Kafka. ``prepare`` turns a command into the bytes to send, with the ids that
a retry must send again; ``value_of`` reads an accepted reply or raises the refusal. Both clients
(and the CLI's ``send``) go through it; the command calls themselves are in ``calls``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

from coordinator.client.errors import ClientError, CommandRefusedError, ReplyTimeoutError
from coordinator.config import Settings
from coordinator.domain.commands import FIRE_AND_FORGET, CommandModel
from coordinator.domain.replies import Reply, ReplyValue

T = TypeVar("T")


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


@dataclass(frozen=True, slots=True)
class Request:
    """A command ready to send: the bytes, and the ids its reply (and any retry) carries."""

    command_type: str
    command_id: str
    correlation_id: str
    payload: bytes


def document_of(command: CommandModel | Mapping[str, Any]) -> dict[str, Any]:
    """The command as the JSON object it is on the wire (camelCase, no null fields but those
    that mean something: ``explicit_nulls``)."""
    if isinstance(command, CommandModel):
        document = command.model_dump(by_alias=True, mode="json", exclude_none=True)
        for name in command.explicit_nulls & command.model_fields_set:
            if getattr(command, name) is None:
                document[type(command).model_fields[name].alias or name] = None
        return document
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


def instance_of(kind: type[T]) -> Callable[[ReplyValue], T]:
    """The reader of a call whose accepted reply's value is a ``kind``."""

    def read(value: ReplyValue) -> T:
        if isinstance(value, kind):
            return value
        raise ClientError(
            f"unexpected reply value: wanted {kind.__name__}, got {type(value).__name__}"
        )

    return read


def instance_or_none(kind: type[T]) -> Callable[[ReplyValue], T | None]:
    """The reader of a call whose value is a ``kind`` or null (nothing found)."""
    read = instance_of(kind)
    return lambda value: None if value is None else read(value)
