"""Turning a batch of raw commands into what must be written: events, replies, dead letters.

This is the worker's imperative shell around ``decide``/``change_for``, minus the I/O: it takes
the bytes read from the commands topic and the state, and returns the records of one
transaction plus the changes to apply to the table once that transaction has committed. It holds
no business rules; those are all in ``coordinator.domain``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import assert_never

from coordinator.config import Settings
from coordinator.domain.change import Change
from coordinator.domain.codec import DecodeError, decode_command
from coordinator.domain.commands import REPLIES_FROM_CHANGE, Command
from coordinator.domain.decider import (
    Accepted,
    AlreadyApplied,
    Answered,
    Context,
    Decision,
    Refused,
    decide,
)
from coordinator.domain.events import EVENT_TAG, Event
from coordinator.domain.model import Summary
from coordinator.domain.replies import ErrorCode, ErrorInfo, Reply, error_reply, ok_reply
from coordinator.domain.state import change_for
from coordinator.domain.validation import reply_topic_problem
from coordinator.domain.view import StateView
from coordinator.kafka.records import (
    COMMAND_OFFSET_HEADER,
    COMMAND_TYPE_HEADER,
    CONTENT_TYPE_HEADER,
    ERROR_CODE_HEADER,
    ERROR_MESSAGE_HEADER,
    KEY_TRUNCATED_FROM_HEADER,
    SOURCE_OFFSET_HEADER,
    SOURCE_PARTITION_HEADER,
    SOURCE_TOPIC_HEADER,
    TAG_HEADER,
    VALUE_TRUNCATED_FROM_HEADER,
    Headers,
    OutRecord,
    Record,
)
from coordinator.store.overlay import Overlay

DEAD_LETTER_VALUE_BYTES = 4 * 1024 * 1024
"""Most of a command's bytes a dead letter holds (the dead-letter topic takes 5 MiB)."""
DEAD_LETTER_KEY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one command, for logs and metrics once the batch has committed."""

    offset: int
    command_type: str | None
    command: Command | None
    decision: Decision | None
    error: ErrorInfo | None = None
    dead_lettered: bool = False
    events: tuple[Event, ...] = ()
    before: Summary | None = None
    """The summary the command was decided against."""


@dataclass(slots=True)
class BatchResult:
    records: list[OutRecord] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    next_offset: int | None = None
    last_event_command_offset: int = -1


def context_for(settings: Settings, now: datetime) -> Context:
    return Context(
        now=now,
        limits=settings.limits,
        reply_prefix=settings.topics.replies,
        max_reply_bytes=settings.max_reply_bytes,
        stale_after=settings.stale_after,
    )


def decode(incoming: Record, max_bytes: int) -> Command | DecodeError:
    """The command in ``incoming``, or why there is none (too large, not JSON, not valid)."""
    size = len(incoming.value) if incoming.value is not None else 0
    if size > max_bytes:
        error = ErrorInfo(
            code=ErrorCode.COMMAND_TOO_LARGE,
            message=f"command is {size} bytes; the limit is {max_bytes}",
        )
        return DecodeError(error)
    return decode_command(incoming.value)


def reply_topics_wanted(decoded: Sequence[Command | DecodeError], prefix: str) -> set[str]:
    """The reply topics a batch would write to, for the caller to check they exist."""
    wanted = set()
    for item in decoded:
        if item.reply_to is not None and reply_topic_problem(item.reply_to, prefix) is None:
            wanted.add(item.reply_to)
    return wanted


def _forbids_reply(decision: Decision) -> bool:
    """Whether ``decide`` refused the command's ``replyTo`` itself (nothing may go there)."""
    return isinstance(decision, Refused) and not decision.can_reply


class BatchBuilder:
    """Builds one transaction's worth of records from decoded commands, in order."""

    def __init__(
        self,
        settings: Settings,
        base: StateView,
        context: Context,
        reply_topic_exists: Callable[[str], bool],
        reply_topic_refusal: Callable[[str], str | None] = lambda _topic: None,
    ) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.context = context
        self.overlay = Overlay(base)
        self.reply_topic_exists = reply_topic_exists
        self.reply_topic_refusal = reply_topic_refusal
        self.result = BatchResult()
        self._before: Summary | None = None

    def add(self, incoming: Record, decoded: Command | DecodeError) -> None:
        self.result.next_offset = incoming.offset + 1
        if isinstance(decoded, DecodeError):
            self._reject_undecodable(incoming, decoded)
            return
        # ``decide`` checks the envelope, ``replyTo``'s legality first; a legal reply topic must
        # also exist (and take replies) before the command may change anything.
        decision = decide(decoded, self.overlay, self.context)
        if decoded.reply_to is not None and not _forbids_reply(decision):
            error = self._unusable_reply_topic(decoded.reply_to)
            if error is not None:
                self._dead_letter(incoming, error, decoded.type)
                self._outcome(incoming, decoded, None, error=error, dead_lettered=True)
                return
        self._apply(incoming, decoded, decision)

    def _unusable_reply_topic(self, topic: str) -> ErrorInfo | None:
        refusal = self.reply_topic_refusal(topic)
        if refusal is not None:
            return ErrorInfo(
                code=ErrorCode.REPLY_TOPIC_REJECTED,
                message=f"reply topic {topic!r} refused the reply: {refusal}"[:1024],
            )
        if not self.reply_topic_exists(topic):
            return ErrorInfo(
                code=ErrorCode.REPLY_TOPIC_NOT_FOUND,
                message=f"reply topic {topic!r} does not exist",
            )
        return None

    def _reply_allowed(self, topic: str) -> bool:
        return (
            reply_topic_problem(topic, self.topics.replies) is None
            and self._unusable_reply_topic(topic) is None
        )

    def _reject_undecodable(self, incoming: Record, failure: DecodeError) -> None:
        self._dead_letter(incoming, failure.error, failure.command_type)
        if failure.reply_to is not None and self._reply_allowed(failure.reply_to):
            reply = error_reply(
                failure.correlation_id, failure.command_id, failure.command_type, failure.error
            )
            self._reply(failure.reply_to, reply)
        self.result.outcomes.append(
            Outcome(
                offset=incoming.offset,
                command_type=failure.command_type,
                command=None,
                decision=None,
                error=failure.error,
                dead_lettered=True,
            )
        )

    def _apply(self, incoming: Record, command: Command, decision: Decision) -> None:
        correlation = command.effective_correlation_id
        self._before = self.overlay.summary
        match decision:
            case Accepted(events=events):
                reply_value = None
                for event in events:
                    change = change_for(self.overlay, event, self.settings.applied_capacity)
                    self.overlay.add(change)
                    self.result.changes.append(change)
                    self._event(incoming, event)
                    reply_value = change.reply
                if command.reply_to is not None and command.type in REPLIES_FROM_CHANGE:
                    reply = ok_reply(correlation, command.command_id, command.type, reply_value)
                    self._reply(command.reply_to, reply)
                self._outcome(incoming, command, decision, events=events)
            case Answered(value=value):
                if command.reply_to is not None:
                    reply = ok_reply(correlation, command.command_id, command.type, value)
                    self._reply(command.reply_to, reply)
                self._outcome(incoming, command, decision)
            case Refused(error=error, dead_letter=dead_letter, can_reply=can_reply):
                if dead_letter:
                    self._dead_letter(incoming, error, command.type)
                if can_reply and command.reply_to is not None:
                    reply = error_reply(correlation, command.command_id, command.type, error)
                    self._reply(command.reply_to, reply)
                self._outcome(incoming, command, decision, error=error, dead_lettered=dead_letter)
            case AlreadyApplied(original=original):
                if command.reply_to is not None and original.command_type in REPLIES_FROM_CHANGE:
                    reply = ok_reply(
                        correlation, command.command_id, original.command_type, original.value
                    )
                    self._reply(command.reply_to, reply)
                self._outcome(incoming, command, decision)
            case _:
                assert_never(decision)

    def _outcome(
        self,
        incoming: Record,
        command: Command,
        decision: Decision | None,
        *,
        error: ErrorInfo | None = None,
        dead_lettered: bool = False,
        events: tuple[Event, ...] = (),
    ) -> None:
        self.result.outcomes.append(
            Outcome(
                offset=incoming.offset,
                command_type=command.type,
                command=command,
                decision=decision,
                error=error,
                dead_lettered=dead_lettered,
                events=events,
                before=self._before,
            )
        )

    def _event(self, incoming: Record, event: Event) -> None:
        self.result.last_event_command_offset = incoming.offset
        self.result.records.append(
            OutRecord(
                topic=self.topics.events,
                key=event.key.encode(),
                value=event.to_json(),
                headers=[
                    (TAG_HEADER, EVENT_TAG.encode()),
                    (COMMAND_OFFSET_HEADER, str(incoming.offset).encode()),
                ],
                is_event=True,
            )
        )

    def _reply(self, topic: str, reply: Reply) -> None:
        key = reply.correlation_id.encode() if reply.correlation_id is not None else None
        value = reply.to_json()
        if len(value) + len(key or b"") > self.settings.max_reply_bytes:
            # Answers are sized to fit, so only a refusal echoing an over-long correlationId or
            # commandId gets here, and it is dead-lettered with its reason already. A reply over
            # the broker's message size would fail the batch's transaction at every retry.
            return
        self.result.records.append(
            OutRecord(
                topic=topic,
                key=key,
                value=value,
                headers=[(CONTENT_TYPE_HEADER, b"application/json")],
                is_reply=True,
            )
        )

    def _dead_letter(self, incoming: Record, error: ErrorInfo, command_type: str | None) -> None:
        headers: Headers = [
            (ERROR_CODE_HEADER, error.code.value.encode()),
            (ERROR_MESSAGE_HEADER, error.message.encode("utf-8", "replace")[:4096]),
            (SOURCE_TOPIC_HEADER, self.topics.commands.encode()),
            (SOURCE_PARTITION_HEADER, b"0"),
            (SOURCE_OFFSET_HEADER, str(incoming.offset).encode()),
        ]
        if command_type is not None:
            headers.append((COMMAND_TYPE_HEADER, command_type.encode("utf-8", "replace")[:256]))
        value, key = incoming.value, incoming.key
        # A compressed batch can hold a command far larger than any topic takes (the broker
        # checks the compressed size): keep what fits, and say how much there was.
        if value is not None and len(value) > DEAD_LETTER_VALUE_BYTES:
            headers.append((VALUE_TRUNCATED_FROM_HEADER, str(len(value)).encode()))
            value = value[:DEAD_LETTER_VALUE_BYTES]
        if key is not None and len(key) > DEAD_LETTER_KEY_BYTES:
            headers.append((KEY_TRUNCATED_FROM_HEADER, str(len(key)).encode()))
            key = key[:DEAD_LETTER_KEY_BYTES]
        self.result.records.append(
            OutRecord(topic=self.topics.deadletter, key=key, value=value, headers=headers)
        )
