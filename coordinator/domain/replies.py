"""Replies: the design document's ``StatusReply``, as JSON on a reply topic."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from coordinator.domain.model import (
    EffectiveLimits,
    GroupQuota,
    GroupState,
    LimitsOverride,
    PipelineInfo,
    PipelineStatus,
    Reservation,
    SystemHealth,
)
from coordinator.domain.wire import Timestamp, WireModel, encode_json


class ErrorCode(StrEnum):
    """Stable, upper-snake-case reasons for refusing a command."""

    INVALID_COMMAND = "INVALID_COMMAND"
    """Not a command: not JSON, not an object, a missing field or a field of the wrong type."""
    UNKNOWN_COMMAND_TYPE = "UNKNOWN_COMMAND_TYPE"
    PIPELINE_ALREADY_REGISTERED = "PIPELINE_ALREADY_REGISTERED"
    PIPELINE_NOT_FOUND = "PIPELINE_NOT_FOUND"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    """Well-formed, but a value breaks a rule (range, length, blank, failed > total)."""
    COMMAND_TOO_LARGE = "COMMAND_TOO_LARGE"
    FORBIDDEN_REPLY_TOPIC = "FORBIDDEN_REPLY_TOPIC"
    REPLY_TOPIC_NOT_FOUND = "REPLY_TOPIC_NOT_FOUND"
    REPLY_TOPIC_REJECTED = "REPLY_TOPIC_REJECTED"
    """The reply topic exists but refuses the reply (too small a message size, no access)."""
    UNREADABLE_RECORD = "UNREADABLE_RECORD"
    """The Kafka client could not hand the record over (a corrupt batch, a codec that fails)."""
    REVISION_CONFLICT = "REVISION_CONFLICT"
    """``expectedRevision`` is not the current revision: someone else changed it first."""
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    """An admission would take a group's usage over its quota, or the total over the limits."""
    GROUP_NOT_FOUND = "GROUP_NOT_FOUND"
    GROUP_ALREADY_EXISTS = "GROUP_ALREADY_EXISTS"
    GROUP_CLOSED = "GROUP_CLOSED"
    """The group is closed: it refuses new pipelines, its running ones stay."""
    GROUP_NOT_EMPTY = "GROUP_NOT_EMPTY"
    TOO_MANY_GROUPS = "TOO_MANY_GROUPS"
    RESERVATION_NOT_FOUND = "RESERVATION_NOT_FOUND"
    """No such reservation: never made, consumed, released or expired."""
    RESERVATION_EXPIRED = "RESERVATION_EXPIRED"
    """The reservation's expiresAt has passed (its Tick has not come yet)."""
    TOO_MANY_RESERVATIONS = "TOO_MANY_RESERVATIONS"
    PIPELINE_NOT_PREEMPTIBLE = "PIPELINE_NOT_PREEMPTIBLE"
    """The pipeline was registered with ``preemptible: false``."""


Scope = Literal["group", "global"]
Dimension = Literal["cpuPercent", "memoryMB", "pipelines"]


class Binding(WireModel):
    """The rule that binds an admission: ``used + requested`` would exceed ``limit``."""

    scope: Scope
    group_id: str | None
    dimension: Dimension
    requested: int | float
    used: int | float
    limit: int | float


class ErrorInfo(WireModel):
    """Why a command was refused. A ``QUOTA_EXCEEDED`` refusal also names the rule that binds
    (the fields of ``Binding``) and the pipelines whose preemption would make it fit; fields that
    do not apply are left out of the JSON."""

    code: ErrorCode
    message: str
    scope: Scope | None = None
    group_id: str | None = None
    dimension: Dimension | None = None
    requested: int | float | None = None
    used: int | float | None = None
    limit: int | float | None = None
    preemption_candidates: list[str] | None = None
    fits_after_preemption: bool | None = None

    @property
    def absent(self) -> set[str]:
        """The fields that do not apply to this refusal, left out of its JSON."""
        return {name for name in ADMISSION_FIELDS if getattr(self, name) is None}

    def to_json(self) -> bytes:
        return encode_json(self, exclude=self.absent)


ADMISSION_FIELDS: tuple[str, ...] = (
    "scope",
    "group_id",
    "dimension",
    "requested",
    "used",
    "limit",
    "preemption_candidates",
    "fits_after_preemption",
)


class StateSummary(WireModel):
    """What ``RegisterPipeline`` and ``UnregisterPipeline`` answer: the registry after the change.

    The design document answers with the whole ``CoordinatorState``; a registry of 100,000
    pipelines does not fit in one message, so this carries the totals and the pipeline concerned
    (its last info, for an unregistration). ``GetSystemStatus`` and ``ListPipelines`` give the rest.
    """

    seq: int
    pipeline_id: str
    pipeline: PipelineInfo | None
    total_pipelines: int
    count_by_status: dict[PipelineStatus, int]
    total_cpu_percent: float
    total_memory_mb: int = Field(alias="totalMemoryMB")
    last_updated: Timestamp | None


class SystemStatus(WireModel):
    """The answer to ``GetSystemStatus``: health, counts, totals, limits; pipelines if they fit."""

    health: SystemHealth
    count_by_status: dict[PipelineStatus, int]
    total_cpu_percent: float
    total_memory_mb: int = Field(alias="totalMemoryMB")
    last_updated: Timestamp | None
    seq: int
    limits: EffectiveLimits
    over_committed: bool = False
    """Usage exceeds a limit in force (lowered below it): nothing new fits until it drops."""
    pipelines: dict[str, PipelineInfo] | None
    pipelines_omitted: bool = False
    """True when the registry is too large for one message: page through ``ListPipelines``."""
    stale_pipelines: int = 0
    """Pipelines whose last heartbeat is older than the stale threshold (journal time)."""
    stale_after_seconds: float | None = None


class PipelinePage(WireModel):
    """One page of ``ListPipelines``; pass ``next`` as ``after`` to get the following page."""

    items: list[PipelineInfo]
    next: str | None


class RuntimeLimits(WireModel):
    """What ``SetResourceLimits`` and ``ResetResourceLimits`` answer: the journal's runtime
    limits after the change (null: the configuration's) and their revision."""

    seq: int
    limits: LimitsOverride | None
    revision: int


class GroupUsage(WireModel):
    """What a group's pipelines are charged, summed (or what its quota allows)."""

    cpu_percent: float
    memory_mb: int = Field(alias="memoryMB")
    pipelines: int


class GroupInfo(WireModel):
    """One pipeline group: its definition, quota, usage and counts."""

    group_id: str
    labels: dict[str, str]
    state: GroupState
    quota: GroupQuota
    revision: int
    created_at: Timestamp | None
    usage: GroupUsage
    reserved: GroupUsage = Field(
        default_factory=lambda: GroupUsage(cpu_percent=0.0, memory_mb=0, pipelines=0)
    )
    """What its outstanding reservations hold (admission counts it as used)."""
    count_by_status: dict[PipelineStatus, int]
    over_committed: bool
    """Usage above a quota (through reports, or a quota lowered below it)."""


class GroupPage(WireModel):
    """One page of ``ListGroups``; pass ``next`` as ``after`` to get the following page."""

    items: list[GroupInfo]
    next: str | None


class ReservationList(WireModel):
    """The answer to ``ListReservations``: the outstanding reservations in id order."""

    reservations: list[Reservation]


class Availability(WireModel):
    """``CheckResourceAvailability`` with ``detail``: whether it fits, and if not, the rule that
    binds and the pipelines whose preemption would make room."""

    available: bool
    binding: Binding | None
    preemption_candidates: list[str]
    fits_after_preemption: bool


ReplyValue = (
    StateSummary
    | SystemStatus
    | PipelinePage
    | PipelineInfo
    | RuntimeLimits
    | GroupInfo
    | GroupPage
    | Availability
    | Reservation
    | ReservationList
    | bool
    | None
)


class Reply(WireModel):
    """A reply to one command, matched by ``correlationId``.

    On the wire an accepted command's reply has ``value`` and no ``error``; a refused one has
    ``error`` and no ``value``.
    """

    correlation_id: str | None
    command_id: str | None
    command_type: str | None
    ok: bool
    value: ReplyValue = None
    error: ErrorInfo | None = None

    def to_json(self) -> bytes:
        if self.ok or self.error is None:
            return encode_json(self, exclude={"error"})
        exclude: Any = {"value": True, "error": self.error.absent}
        return encode_json(self, exclude=exclude)


def ok_reply(
    correlation_id: str | None, command_id: str | None, command_type: str, value: ReplyValue
) -> Reply:
    return Reply(
        correlation_id=correlation_id,
        command_id=command_id,
        command_type=command_type,
        ok=True,
        value=value,
    )


def error_reply(
    correlation_id: str | None,
    command_id: str | None,
    command_type: str | None,
    error: ErrorInfo,
) -> Reply:
    return Reply(
        correlation_id=correlation_id,
        command_id=command_id,
        command_type=command_type,
        ok=False,
        error=error,
    )
