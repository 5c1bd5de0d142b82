"""Reading topics back (read_committed, as a consumer of the journal would)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import TracebackType

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from coordinator.config import Settings
from coordinator.kafka.reader import committed_consumer, last_value


def reader(settings: Settings, purpose: str) -> Consumer:
    """A reader with the recovery code's own consumer settings."""
    return committed_consumer(settings, f"bench-{purpose}")


def end_offset(settings: Settings, topic: str) -> int:
    consumer = reader(settings, "end")
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(high)
    finally:
        consumer.close()


def records(
    settings: Settings, topic: str, start: int | None = None, batch: int = 5000
) -> Iterator[Message]:
    """Every committed record of partition 0 of ``topic`` from ``start`` to its current end."""
    consumer = reader(settings, "read")
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        if high <= (start or 0):
            return
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING if start is None else start)])
        idle_since = time.monotonic()
        while True:
            messages = consumer.consume(batch, 1.0)
            if not messages:
                if time.monotonic() - idle_since > 30:
                    raise TimeoutError(f"no end of {topic} seen")
                continue
            idle_since = time.monotonic()
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        return
                    raise KafkaException(error)
                yield message
    finally:
        consumer.close()


def count_records(settings: Settings, topic: str) -> tuple[int, float]:
    """How many committed records ``topic`` holds, and the seconds it took to read them all:
    the raw consume rate, nothing decoded."""
    started = time.monotonic()
    count = 0
    for _message in records(settings, topic):
        count += 1
    return count, time.monotonic() - started


class Progress:
    """Reads the worker's progress record: the next command it will apply (0 before any)."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.topics.progress
        self.consumer = committed_consumer(settings, "bench-progress")

    def next_offset(self) -> int:
        raw = last_value(self.consumer, self.topic)
        return 0 if raw is None else int(json.loads(raw)["nextCommandOffset"])

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.consumer.close()
