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

from coordinator.domain.model import (
    DEFAULT_GROUP,
    GroupQuota,
    GroupState,
    LimitsOverride,
    Status,
)
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
    group: str = DEFAULT_GROUP
    requested_cpu_percent: float | None = None
    requested_memory_mb: int | None = Field(default=None, alias="requestedMemoryMB")
    priority: int = 0
    preemptible: bool = True
    reservation_id: str | None = None
    """The reservation the registration consumed: its capacity is now the pipeline's request."""


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


class PipelineMoved(PipelineEvent):
    """A pipeline moved to another group, its charge with it."""

    type: Literal["PipelineMoved"] = "PipelineMoved"
    from_group: str
    to_group: str


class PipelineLabelsChanged(PipelineEvent):
    """A pipeline's labels were replaced."""

    type: Literal["PipelineLabelsChanged"] = "PipelineLabelsChanged"
    labels: dict[str, str]


class PreemptionRequested(PipelineEvent):
    """A pipeline was asked to give way (for ``forPipelineId``, when named); nothing is killed."""

    type: Literal["PreemptionRequested"] = "PreemptionRequested"
    for_pipeline_id: str | None = None
    reason: str


class GroupEvent(EventModel):
    """An event about one pipeline group (keyed by ``groupId``); ``revision`` counts its changes."""

    group_id: str
    timestamp: Timestamp
    revision: int

    @property
    def key(self) -> str:
        return self.group_id


class GroupCreated(GroupEvent):
    """A pipeline group was created: open, without a quota."""

    type: Literal["GroupCreated"] = "GroupCreated"
    labels: dict[str, str]


class GroupQuotaChanged(GroupEvent):
    """A group's quota was set: ``quota`` binds new admissions from now on."""

    type: Literal["GroupQuotaChanged"] = "GroupQuotaChanged"
    previous: GroupQuota
    quota: GroupQuota
    reason: str | None = None


class GroupStateChanged(GroupEvent):
    """A group was opened or closed (a closed group refuses new pipelines)."""

    type: Literal["GroupStateChanged"] = "GroupStateChanged"
    state: GroupState


class GroupDeleted(GroupEvent):
    """An empty group was deleted."""

    type: Literal["GroupDeleted"] = "GroupDeleted"


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


class ReservationEvent(EventModel):
    """An event about one reservation (keyed by ``reservationId``)."""

    reservation_id: str
    group_id: str
    timestamp: Timestamp

    @property
    def key(self) -> str:
        return self.reservation_id


class ResourcesReserved(ReservationEvent):
    """Capacity was reserved in a group until ``expiresAt``: it counts as used from now on."""

    type: Literal["ResourcesReserved"] = "ResourcesReserved"
    cpu_percent: float
    memory_mb: int = Field(alias="memoryMB")
    expires_at: Timestamp


class ReservationReleased(ReservationEvent):
    """A reservation was given back before its expiry: its capacity is free again."""

    type: Literal["ReservationReleased"] = "ReservationReleased"


class ReservationExpired(ReservationEvent):
    """A reservation reached its expiry (at a ``Tick``): its capacity is free again."""

    type: Literal["ReservationExpired"] = "ReservationExpired"


AnyPipelineEvent = (
    PipelineRegistered
    | PipelineUnregistered
    | PipelineStatusUpdated
    | ResourceUsageReported
    | PipelineMoved
    | PipelineLabelsChanged
    | PreemptionRequested
)
"""The events about one pipeline."""

AnyReservationEvent = ResourcesReserved | ReservationReleased | ReservationExpired
"""The events about one reservation."""

AnyGroupEvent = GroupCreated | GroupQuotaChanged | GroupStateChanged | GroupDeleted
"""The events about one pipeline group."""

Event = Annotated[
    PipelineRegistered
    | PipelineUnregistered
    | PipelineStatusUpdated
    | ResourceUsageReported
    | PipelineMoved
    | PipelineLabelsChanged
    | PreemptionRequested
    | GroupCreated
    | GroupQuotaChanged
    | GroupStateChanged
    | GroupDeleted
    | ResourceLimitsChanged
    | ResourceLimitsReset
    | ResourcesReserved
    | ReservationReleased
    | ReservationExpired,
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[type[EventModel], ...] = (
    PipelineRegistered,
    PipelineUnregistered,
    PipelineStatusUpdated,
    ResourceUsageReported,
    PipelineMoved,
    PipelineLabelsChanged,
    PreemptionRequested,
    GroupCreated,
    GroupQuotaChanged,
    GroupStateChanged,
    GroupDeleted,
    ResourceLimitsChanged,
    ResourceLimitsReset,
    ResourcesReserved,
    ReservationReleased,
    ReservationExpired,
)
