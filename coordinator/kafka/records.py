"""Kafka's wire shapes as the coordinator uses them: records read, records to write, headers.

Every topic's records are built from these, and every header the coordinator writes is named
here once (the reference in docs/protocol.md lists them for other clients).
"""

from __future__ import annotations

from dataclasses import dataclass, field

Headers = list[tuple[str, str | bytes | None]]
"""A record's headers as confluent-kafka takes and gives them: (name, value) pairs, in order."""

TAG_HEADER = "tag"
"""On every event: ``coordinator`` (the design document's tag)."""
COMMAND_OFFSET_HEADER = "command-offset"
"""On every event: the commands-topic offset of the command that caused it."""
CONTENT_TYPE_HEADER = "content-type"
"""On every reply: ``application/json``."""

ERROR_CODE_HEADER = "error-code"
ERROR_MESSAGE_HEADER = "error-message"
SOURCE_TOPIC_HEADER = "source-topic"
SOURCE_PARTITION_HEADER = "source-partition"
SOURCE_OFFSET_HEADER = "source-offset"
COMMAND_TYPE_HEADER = "command-type"
VALUE_TRUNCATED_FROM_HEADER = "value-truncated-from"
KEY_TRUNCATED_FROM_HEADER = "key-truncated-from"
DEAD_LETTER_HEADERS = (
    ERROR_CODE_HEADER,
    ERROR_MESSAGE_HEADER,
    SOURCE_TOPIC_HEADER,
    SOURCE_PARTITION_HEADER,
    SOURCE_OFFSET_HEADER,
    COMMAND_TYPE_HEADER,
    VALUE_TRUNCATED_FROM_HEADER,
    KEY_TRUNCATED_FROM_HEADER,
)
"""What a dead letter may carry besides the command's own key and value."""


@dataclass(slots=True)  # not frozen: a frozen dataclass takes twice as long to build
class Record:
    """One record read from a topic (the commands topic, the journal, snapshots, progress)."""

    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to write, inside the journal writer's transaction or as an answer alone."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)
    is_event: bool = False
    is_reply: bool = False


def header(headers: Headers, name: str) -> bytes | None:
    """The last value of header ``name``, as bytes."""
    for key, value in reversed(headers):
        if key == name:
            return value.encode() if isinstance(value, str) else value
    return None
