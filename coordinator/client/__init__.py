"""Typed clients of the coordinator, on confluent-kafka: synchronous and asyncio."""

from coordinator.client.errors import ClientError, CommandRefusedError, ReplyTimeoutError
from coordinator.client.sync import CoordinatorClient

__all__ = ["ClientError", "CommandRefusedError", "CoordinatorClient", "ReplyTimeoutError"]
