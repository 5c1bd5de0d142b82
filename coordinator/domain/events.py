"""Domain events: the journal's records (docs/protocol.md, design document "Events").

Each carries the design document's fields plus ``type``, its journal position ``seq`` (1, 2, 3,
... without gaps) and the ``commandId`` that caused it (``null`` when the command had none). A
pipeline's events name it (``pipelineId``, also their key on the events topic); the others change
the registry as a whole and are keyed by what they change (``key``). Events are facts: they are
never rewritten, and folding them reproduces the state.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from coordinator.domain.model import LimitsOverride, Status
from coordinator.domain.wire import Timestamp, WireModel

EVENT_TAG = "coordinator"
"""Every event is tagged for projections, as in the design document."""


LIMITS_KEY = "resource-limits"
"""The events-topic key of the events that change the runtime limits."""


class EventModel(WireModel):
    """Fields every event has (each kind adds ``timestamp`` after its own key fields, so that a
    pipeline's events keep the order they always had on the wire)."""

    type: str
    seq: int
    command_id: str | None

    @property
    def key(self) -> str:
        """The event's key on the events topic."""
        raise NotImplementedError


class PipelineEvent(EventModel):
    """An event about one pipeline."""

    pipeline_id: str
    timestamp: Timestamp

    @property
    def key(self) -> str:
        return self.pipeline_id


class PipelineRegistered(PipelineEvent):
    """A pipeline was registered (status configured, nothing counted yet)."""

    type: Literal["PipelineRegistered"] = "PipelineRegistered"
    name: str


class PipelineUnregistered(PipelineEvent):
    """A pipeline was removed from the registry, with its resource share."""

    type: Literal["PipelineUnregistered"] = "PipelineUnregistered"


class PipelineStatusUpdated(PipelineEvent):
    """A pipeline reported its status and record counts."""

    type: Literal["PipelineStatusUpdated"] = "PipelineStatusUpdated"
    status: Status
    total_records: int
    failed_records: int


class ResourceUsageReported(PipelineEvent):
    """A pipeline reported its CPU and memory usage."""

    type: Literal["ResourceUsageReported"] = "ResourceUsageReported"
    cpu_percent: float
    memory_mb: int = Field(alias="memoryMB")


class LimitsEvent(EventModel):
    """An event about the runtime resource limits; ``revision`` counts them."""

    timestamp: Timestamp
    previous: LimitsOverride | None
    revision: int

    @property
    def key(self) -> str:
        return LIMITS_KEY


class ResourceLimitsChanged(LimitsEvent):
    """The runtime resource limits were set: ``limits`` are in force, over the configuration."""

    type: Literal["ResourceLimitsChanged"] = "ResourceLimitsChanged"
    limits: LimitsOverride
    reason: str | None = None


class ResourceLimitsReset(LimitsEvent):
    """The runtime resource limits were dropped: the configured limits are in force again."""

    type: Literal["ResourceLimitsReset"] = "ResourceLimitsReset"
    reason: str | None = None


AnyPipelineEvent = (
    PipelineRegistered | PipelineUnregistered | PipelineStatusUpdated | ResourceUsageReported
)
"""The events about one pipeline."""

Event = Annotated[
    PipelineRegistered
    | PipelineUnregistered
    | PipelineStatusUpdated
    | ResourceUsageReported
    | ResourceLimitsChanged
    | ResourceLimitsReset,
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[type[EventModel], ...] = (
    PipelineRegistered,
    PipelineUnregistered,
    PipelineStatusUpdated,
    ResourceUsageReported,
    ResourceLimitsChanged,
    ResourceLimitsReset,
)
