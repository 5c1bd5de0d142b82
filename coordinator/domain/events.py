"""Domain events: the journal's records (docs/protocol.md, design document "Events").

Each carries the design document's fields plus ``type``, its journal position ``seq`` (1, 2, 3,
... without gaps) and the ``commandId`` that caused it (``null`` when the command had none).
Events are facts: they are never rewritten, and folding them reproduces the state.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from coordinator.domain.model import Status
from coordinator.domain.wire import Timestamp, WireModel

EVENT_TAG = "coordinator"
"""Every event is tagged for projections, as in the design document."""


class EventModel(WireModel):
    type: str
    seq: int
    command_id: str | None
    pipeline_id: str
    timestamp: Timestamp


class PipelineRegistered(EventModel):
    """A pipeline was registered (status configured, nothing counted yet)."""

    type: Literal["PipelineRegistered"] = "PipelineRegistered"
    name: str


class PipelineUnregistered(EventModel):
    """A pipeline was removed from the registry, with its resource share."""

    type: Literal["PipelineUnregistered"] = "PipelineUnregistered"


class PipelineStatusUpdated(EventModel):
    """A pipeline reported its status and record counts."""

    type: Literal["PipelineStatusUpdated"] = "PipelineStatusUpdated"
    status: Status
    total_records: int
    failed_records: int


class ResourceUsageReported(EventModel):
    """A pipeline reported its CPU and memory usage."""

    type: Literal["ResourceUsageReported"] = "ResourceUsageReported"
    cpu_percent: float
    memory_mb: int = Field(alias="memoryMB")


Event = Annotated[
    PipelineRegistered | PipelineUnregistered | PipelineStatusUpdated | ResourceUsageReported,
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[type[EventModel], ...] = (
    PipelineRegistered,
    PipelineUnregistered,
    PipelineStatusUpdated,
    ResourceUsageReported,
)
