"""Typed clients of the coordinator, on confluent-kafka: synchronous and asyncio."""

from coordinator.client.aio import AsyncCoordinatorClient
from coordinator.client.errors import (
    BrokerUnreachableError,
    ClientError,
    CommandRefusedError,
    DeliveryError,
    ReplyTimeoutError,
    TopicNotFoundError,
)
from coordinator.client.sync import CoordinatorClient

__all__ = [
    "AsyncCoordinatorClient",
    "BrokerUnreachableError",
    "ClientError",
    "CommandRefusedError",
    "CoordinatorClient",
    "DeliveryError",
    "ReplyTimeoutError",
    "TopicNotFoundError",
]
