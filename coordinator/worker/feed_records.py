"""What the command feed reads and hands over, and the group consumer it reads with.

The records of the commands topic (``CommandRecord``, ``Unreadable``), the batch the feed hands
to the event loop, and the configuration of the workers' group consumer: ``cooperative-sticky``
assignment, static membership, nothing committed to the group, ``read_committed``, CRCs checked.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from coordinator.config import Settings
from coordinator.kafka.records import Headers

RECORD_ERRORS = frozenset(
    {
        KafkaError._BAD_MSG,
        KafkaError._BAD_COMPRESSION,
        KafkaError.INVALID_MSG,
        KafkaError.UNSUPPORTED_COMPRESSION_TYPE,
        KafkaError.INVALID_RECORD,
        KafkaError.MSG_SIZE_TOO_LARGE,
    }
)
"""Errors librdkafka reports for one record it cannot hand over; the record is dead-lettered."""


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """One record read from the commands topic."""

    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float
    """When the record was appended (seconds since the epoch), for the latency histogram."""
    headers: Headers = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A record of the commands topic that the client library could not hand over."""

    offset: int
    code: str
    reason: str
    timestamp: float = 0.0


FeedItem = CommandRecord | Unreadable


@dataclass(frozen=True, slots=True)
class CommandBatch:
    generation: int
    items: Sequence[FeedItem]


class ConsumerLike(Protocol):
    """What the feed needs of a confluent-kafka ``Consumer`` (a fake in unit tests)."""

    def subscribe(
        self, topics: list[str], on_assign: Any, on_revoke: Any, on_lost: Any
    ) -> None: ...
    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]: ...
    def incremental_assign(self, partitions: list[TopicPartition]) -> None: ...
    def incremental_unassign(self, partitions: list[TopicPartition]) -> None: ...
    def pause(self, partitions: list[TopicPartition]) -> None: ...
    def seek(self, partition: TopicPartition) -> None: ...
    def resume(self, partitions: list[TopicPartition]) -> None: ...
    def close(self) -> None: ...


class Ownership(Protocol):
    """Where the feed reports rebalances; called on the event loop's thread."""

    def partition_assigned(self) -> None: ...
    def partition_revoked(self, lost: bool) -> None: ...


def instance_id(settings: Settings) -> str:
    """The static group member id: one per worker name and host."""
    return f"{settings.topics.worker_group}.{settings.worker_name}@{socket.gethostname()}"[:249]


def group_consumer_config(settings: Settings) -> dict[str, object]:
    return {
        **settings.kafka_base(),
        "group.id": settings.topics.worker_group,
        "group.instance.id": instance_id(settings),
        "client.id": f"{settings.topic_prefix}-{settings.worker_name}-feed",
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": settings.session_timeout_ms,
        "heartbeat.interval.ms": settings.heartbeat_interval_ms,
        # The reader thread calls consume at least every POLL_SECONDS, also while paused.
        "max.poll.interval.ms": max(60_000, settings.session_timeout_ms * 2),
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # Every read starts at an offset the progress topic names; a position that falls out of
        # the partition is an error the feed repairs, never a silent restart from one end.
        "auto.offset.reset": "error",
        "isolation.level": "read_committed",
        "enable.partition.eof": False,
        # Without it a batch whose bytes were corrupted on disk is handed over as it is read.
        "check.crcs": True,
        "fetch.wait.max.ms": 50,
        "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 8 * 1024 * 1024,
    }


def group_consumer(settings: Settings) -> ConsumerLike:
    consumer: ConsumerLike = Consumer(
        group_consumer_config(settings), logger=logging.getLogger("coordinator.kafka")
    )
    return consumer
