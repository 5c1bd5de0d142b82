"""Bytes to typed commands and events, and models to bytes.

``decode_command`` never raises on bad input: it returns either a command or a ``DecodeError``
whose message names the field and the problem, together with whatever it could still read of the
envelope (``replyTo``, ``correlationId``, ``commandId``) so that the sender can be told.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pydantic_core
from pydantic import TypeAdapter, ValidationError

from coordinator.domain.commands import COMMAND_TYPES, Command, CommandModel
from coordinator.domain.events import Event
from coordinator.domain.replies import ErrorCode, ErrorInfo, Reply
from coordinator.domain.wire import WireModel

_BY_LOWER_TYPE: dict[str, type[CommandModel]] = {
    cast(str, model.model_fields["type"].default).lower(): model for model in COMMAND_TYPES
}
KNOWN_COMMAND_TYPES: tuple[str, ...] = tuple(
    cast(str, model.model_fields["type"].default) for model in COMMAND_TYPES
)
_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

MAX_ERROR_MESSAGE_LENGTH = 1024
"""Error messages name fields taken from the input; bounded so that a refusal's reply does not
grow with the command (64 KiB of unknown fields would otherwise make a reply of ~300 KB, and a
reply over the broker's message size would fail its transaction over and over)."""
_PROBLEMS_LISTED = 10
_LOCATION_LENGTH = 100


@dataclass(frozen=True, slots=True)
class DecodeError:
    """Why bytes are not a command, and who (if anyone) should hear about it."""

    error: ErrorInfo
    command_type: str | None = None
    command_id: str | None = None
    correlation_id: str | None = None
    reply_to: str | None = None


def _text(document: dict[str, Any], key: str) -> str | None:
    value = document.get(key)
    return value if isinstance(value, str) else None


def _bounded(message: str) -> str:
    if len(message) <= MAX_ERROR_MESSAGE_LENGTH:
        return message
    return message[: MAX_ERROR_MESSAGE_LENGTH - 1] + "\u2026"


def _describe(error: ValidationError) -> str:
    details = error.errors(include_url=False)
    parts = []
    for detail in details[:_PROBLEMS_LISTED]:
        location = ".".join(str(part) for part in detail["loc"]) or "command"
        if len(location) > _LOCATION_LENGTH:
            location = location[: _LOCATION_LENGTH - 1] + "\u2026"
        parts.append(f"{location}: {detail['msg']}")
    if len(details) > _PROBLEMS_LISTED:
        parts.append(f"and {len(details) - _PROBLEMS_LISTED} more problems")
    return _bounded("; ".join(parts))


def decode_command(raw: bytes | None) -> Command | DecodeError:
    """Parse one command; enum values and the ``type`` itself are accepted in any case."""
    if not raw:
        return DecodeError(ErrorInfo(code=ErrorCode.INVALID_COMMAND, message="empty message"))
    try:
        document = pydantic_core.from_json(raw, allow_inf_nan=True)
    except ValueError as exc:
        message = _bounded(f"not valid UTF-8 JSON: {exc}")
        return DecodeError(ErrorInfo(code=ErrorCode.INVALID_COMMAND, message=message))
    if not isinstance(document, dict):
        message = f"a command must be a JSON object, got {type(document).__name__}"
        return DecodeError(ErrorInfo(code=ErrorCode.INVALID_COMMAND, message=message))

    envelope = {
        "command_id": _text(document, "commandId"),
        "correlation_id": _text(document, "correlationId"),
        "reply_to": _text(document, "replyTo"),
    }
    if envelope["correlation_id"] is None:
        envelope["correlation_id"] = envelope["command_id"]
    type_name = document.get("type")
    if not isinstance(type_name, str):
        message = "type: a string field naming the command is required"
        error = ErrorInfo(code=ErrorCode.INVALID_COMMAND, message=message)
        return DecodeError(error, **envelope)
    model = _BY_LOWER_TYPE.get(type_name.lower())
    if model is None:
        known = ", ".join(KNOWN_COMMAND_TYPES)
        message = _bounded(f"unknown command type {type_name[:100]!r}; known types: {known}")
        error = ErrorInfo(code=ErrorCode.UNKNOWN_COMMAND_TYPE, message=message)
        return DecodeError(error, command_type=type_name[:100], **envelope)

    canonical = cast(str, model.model_fields["type"].default)
    document["type"] = canonical
    try:
        # camelCase only on the wire: the Python field names are not accepted as aliases.
        return cast(Command, model.model_validate(document, by_alias=True, by_name=False))
    except ValidationError as exc:
        error = ErrorInfo(code=ErrorCode.INVALID_COMMAND, message=_describe(exc))
        return DecodeError(error, command_type=canonical, **envelope)


def decode_event(raw: bytes) -> Event:
    """Parse one journal record; the journal is ours, so a bad record is an error, not input."""
    return _EVENT_ADAPTER.validate_json(raw)


def encode(model: WireModel) -> bytes:
    """Any wire model (command, event, reply, info) as compact camelCase JSON."""
    return model.to_json()


def encode_reply(reply: Reply) -> bytes:
    return reply.to_json()
