"""Reading the journal (and other topics) as ``read_committed``: only what was committed counts."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from coordinator.config import Settings
from coordinator.errors import CoordinatorError
from coordinator.kafka.records import Headers, Record


class OffsetOutOfRangeError(CoordinatorError):
    """The requested offset is not in the topic (deleted, or beyond its end)."""


def committed_consumer(settings: Settings, purpose: str, eof: bool = True) -> Consumer:
    """A group-less reader: it is assigned partitions by hand and never commits."""
    return Consumer(
        {
            **settings.kafka_base(),
            # librdkafka wants a group id even for manual assignment; nothing is ever committed.
            "group.id": f"{settings.topic_prefix}.{purpose}-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "error",
            "enable.partition.eof": eof,
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
            "fetch.wait.max.ms": 100,
        },
        logger=logging.getLogger("coordinator.kafka"),
    )


def header_list(
    headers: dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]] | None,
) -> Headers:
    if headers is None:
        return []
    if isinstance(headers, dict):
        return list(headers.items())
    return list(headers)


def watermarks(consumer: Consumer, topic: str, timeout: float = 10.0) -> tuple[int, int]:
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout)
    return int(low), int(high)


def assign(consumer: Consumer, topic: str, start: int | None) -> None:
    """Read partition 0 of ``topic`` from ``start`` (None: the beginning)."""
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING if start is None else start)])


def last_value(consumer: Consumer, topic: str, timeout: float = 10.0) -> bytes | None:
    """The value of the last committed record of partition 0 of ``topic``, if any.

    Reads a window at the end, widening it while it holds only transaction markers or aborted
    records.
    """
    low, high = watermarks(consumer, topic, timeout)
    window = 64
    while True:
        start = max(low, high - window)
        found = None
        for record in read_to_end(consumer, topic, start, timeout=timeout):
            if record.value is not None:
                found = record.value
        if found is not None or start == low:
            return found
        window *= 4


def consume_batch(consumer: Consumer, most: int, timeout: float) -> list[Message]:
    """Up to ``most`` messages: waits up to ``timeout`` for the first, then takes what is queued.

    Not ``consume(most, timeout)``: with a timeout of 0.2 s or more it waits until it has
    ``most`` messages or the timeout has passed (confluent-kafka-python #407), so reading the
    last few records of a topic took the whole timeout (a take-over spent 2 s in two such reads).
    """
    messages = consumer.consume(1, timeout)
    if messages and most > 1:
        messages.extend(consumer.consume(most - 1, 0))
    return messages


def read_to_end(
    consumer: Consumer, topic: str, start: int | None, batch: int = 2000, timeout: float = 30.0
) -> Iterator[Record]:
    """Every committed record of partition 0 of ``topic`` from ``start`` (None: the beginning)
    up to its end as it stands now (the last stable offset)."""
    low, high = watermarks(consumer, topic, timeout)
    if high <= max(low, start or 0):
        return
    assign(consumer, topic, start)
    try:
        idle_polls = 0
        while True:
            messages = consume_batch(consumer, batch, 1.0)
            if not messages:
                idle_polls += 1
                if idle_polls > timeout:
                    raise TimeoutError(f"no end of {topic} seen within {timeout:.0f} s")
                continue
            idle_polls = 0
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        return
                    if error.code() == KafkaError._AUTO_OFFSET_RESET:
                        raise OffsetOutOfRangeError(
                            f"offset {start} is not in {topic}: {error.str()}"
                        )
                    raise KafkaException(error)
                yield Record(
                    message.offset() or 0,
                    message.key(),
                    message.value(),
                    header_list(message.headers()),
                )
    finally:
        consumer.unassign()
