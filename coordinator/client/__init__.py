"""Typed clients of the coordinator, on confluent-kafka: synchronous and asyncio, and the
pipeline-side reporter that registers a pipeline, reports for it and unregisters it."""

from coordinator.client.aio import AsyncCoordinatorClient
from coordinator.client.errors import (
    BrokerUnreachableError,
    ClientError,
    CommandRefusedError,
    DeliveryError,
    ReplyTimeoutError,
    TopicNotFoundError,
)
from coordinator.client.reporter import AsyncPipelineReporter, PipelineReporter, Progress
from coordinator.client.resources import ProcessResources, ResourceSample
from coordinator.client.sync import CoordinatorClient

__all__ = [
    "AsyncCoordinatorClient",
    "AsyncPipelineReporter",
    "BrokerUnreachableError",
    "ClientError",
    "CommandRefusedError",
    "CoordinatorClient",
    "DeliveryError",
    "PipelineReporter",
    "ProcessResources",
    "Progress",
    "ReplyTimeoutError",
    "ResourceSample",
    "TopicNotFoundError",
]
