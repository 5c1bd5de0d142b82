"""Commands: what producers ask of the coordinator (docs/protocol.md, design document "Commands").

The models check shape and types only (a string where a string belongs, a number where a number
belongs); the rules about values (ranges, lengths, blank names) belong to the decider, so that a
refusal names the rule and carries ``INVALID_ARGUMENT``.

Each command type declares what it is, once, next to its model (``declared``): which events it
may append (none: a query), and what an accepted one replies with. Processing, the clients, the
replay of replies from the journal and the JSON Schemas' descriptions all read that declaration.
"""

from __future__ import annotations

from typing import Annotated, Literal, cast

from pydantic import Field

from coordinator.domain.command_base import CommandModel, Declaration, SuccessReply
from coordinator.domain.events import (
    EventModel,
    PipelineLabelsChanged,
    PipelineRegistered,
    PipelineStatusUpdated,
    PipelineUnregistered,
    ResourceLimitsChanged,
    ResourceLimitsReset,
    ResourceUsageReported,
)
from coordinator.domain.group_commands import (
    CreateGroup,
    DeleteGroup,
    GetGroup,
    ListGroups,
    MovePipeline,
    SetGroupQuota,
    SetGroupState,
)
from coordinator.domain.model import Status
from coordinator.domain.reservation_commands import (
    ListReservations,
    ReleaseReservation,
    RequestPreemption,
    ReserveResources,
    Tick,
)

__all__ = [
    "CommandModel",
    "CreateGroup",
    "Declaration",
    "DeleteGroup",
    "GetGroup",
    "ListGroups",
    "ListReservations",
    "MovePipeline",
    "ReleaseReservation",
    "RequestPreemption",
    "ReserveResources",
    "SetGroupQuota",
    "SetGroupState",
    "SuccessReply",
    "Tick",
]


class RegisterPipeline(CommandModel):
    declared = Declaration(
        "Register a new pipeline.",
        SuccessReply.SUMMARY,
        emits=(PipelineRegistered,),
        refused_when=(
            "the id is already registered or the name is empty, the group is closed or its "
            "quota or the limits would be exceeded (QUOTA_EXCEEDED), or the reservation named "
            "does not exist (RESERVATION_NOT_FOUND) or has expired (RESERVATION_EXPIRED)"
        ),
    )

    type: Literal["RegisterPipeline"] = "RegisterPipeline"
    pipeline_id: str
    name: str
    group: str | None = None
    """The pipeline's group (``default`` when left out)."""
    requested_cpu_percent: float | None = None
    requested_memory_mb: int | None = Field(default=None, alias="requestedMemoryMB")
    priority: int | None = None
    """Higher is more important (0 when left out)."""
    preemptible: bool | None = None
    """Whether a higher-priority admission may ask for its preemption (true when left out)."""
    reservation_id: str | None = None
    """Consume this reservation: its group and amounts become the pipeline's."""


class UnregisterPipeline(CommandModel):
    declared = Declaration(
        "Remove a pipeline from the registry.",
        SuccessReply.SUMMARY,
        emits=(PipelineUnregistered,),
        refused_when="the pipeline is not registered",
    )

    type: Literal["UnregisterPipeline"] = "UnregisterPipeline"
    pipeline_id: str


class UpdatePipelineStatus(CommandModel):
    declared = Declaration(
        "A pipeline's periodic status report.",
        SuccessReply.NOTHING,
        emits=(PipelineStatusUpdated,),
        refused_when="the pipeline is not registered",
    )

    type: Literal["UpdatePipelineStatus"] = "UpdatePipelineStatus"
    pipeline_id: str
    status: Status
    total_records: int
    failed_records: int


class ReportResourceUsage(CommandModel):
    declared = Declaration(
        "A pipeline's periodic CPU and memory report; replaces its previous one.",
        SuccessReply.NOTHING,
        emits=(ResourceUsageReported,),
        refused_when="the pipeline is not registered",
    )

    type: Literal["ReportResourceUsage"] = "ReportResourceUsage"
    pipeline_id: str
    cpu_percent: float
    memory_mb: int = Field(alias="memoryMB")


class CheckResourceAvailability(CommandModel):
    declared = Declaration(
        "Whether the estimated usage fits under the limits.",
        SuccessReply.VALUE,
        answer="true or false",
    )

    type: Literal["CheckResourceAvailability"] = "CheckResourceAvailability"
    estimated_cpu_percent: float
    estimated_memory_mb: int = Field(alias="estimatedMemoryMB")
    group: str | None = None
    """Also check this group's quota (as a registration into it would be)."""
    detail: bool | None = None
    """Answer with the rule that binds and the preemption candidates, not only true/false."""
    priority: int | None = None
    """The priority the candidates are chosen against (lower ones, preemptible)."""


class GetSystemStatus(CommandModel):
    declared = Declaration(
        "Ask for the system's status.",
        SuccessReply.VALUE,
        answer="health, counts, totals, limits, and the pipelines if they fit in one message",
    )

    type: Literal["GetSystemStatus"] = "GetSystemStatus"


class GetPipelineInfo(CommandModel):
    declared = Declaration(
        "Ask for one pipeline.",
        SuccessReply.VALUE,
        answer="its info, or null if it is not registered",
    )

    type: Literal["GetPipelineInfo"] = "GetPipelineInfo"
    pipeline_id: str


class ListPipelines(CommandModel):
    declared = Declaration(
        "Ask for one page of pipelines in id order.",
        SuccessReply.VALUE,
        answer="the page: items, and next (pass it as after to get the following page)",
    )

    type: Literal["ListPipelines"] = "ListPipelines"
    status: Status | None = None
    group: str | None = None
    label_selector: str | None = None
    """Kubernetes-style: ``team=payments,tier!=batch,env in (prod,staging),!legacy``."""
    name_prefix: str | None = None
    limit: int | None = None
    after: str | None = None


class SetPipelineLabels(CommandModel):
    declared = Declaration(
        "Replace a pipeline's labels.",
        SuccessReply.RESULT,
        emits=(PipelineLabelsChanged,),
        answer="the pipeline after the change",
        refused_when="the pipeline is not registered",
    )

    type: Literal["SetPipelineLabels"] = "SetPipelineLabels"
    pipeline_id: str
    labels: dict[str, str]


class SetResourceLimits(CommandModel):
    declared = Declaration(
        "Set the runtime resource limits (a limit left out keeps its current value).",
        SuccessReply.RESULT,
        emits=(ResourceLimitsChanged,),
        answer="the runtime limits after it and their revision",
        refused_when="expectedRevision is not the current revision (REVISION_CONFLICT)",
    )

    type: Literal["SetResourceLimits"] = "SetResourceLimits"
    max_cpu_percent: float | None = None
    max_memory_mb: int | None = Field(default=None, alias="maxMemoryMB")
    expected_revision: int | None = None
    reason: str | None = None


class ResetResourceLimits(CommandModel):
    declared = Declaration(
        "Return to the configured resource limits.",
        SuccessReply.RESULT,
        emits=(ResourceLimitsReset,),
        answer="the runtime limits after it (null) and their revision",
        refused_when="expectedRevision is not the current revision (REVISION_CONFLICT)",
    )

    type: Literal["ResetResourceLimits"] = "ResetResourceLimits"
    expected_revision: int | None = None
    reason: str | None = None


Command = Annotated[
    RegisterPipeline
    | UnregisterPipeline
    | UpdatePipelineStatus
    | ReportResourceUsage
    | CheckResourceAvailability
    | GetSystemStatus
    | GetPipelineInfo
    | ListPipelines
    | SetPipelineLabels
    | SetResourceLimits
    | ResetResourceLimits
    | CreateGroup
    | SetGroupQuota
    | SetGroupState
    | DeleteGroup
    | MovePipeline
    | GetGroup
    | ListGroups
    | ReserveResources
    | ReleaseReservation
    | ListReservations
    | Tick
    | RequestPreemption,
    Field(discriminator="type"),
]

COMMAND_TYPES: tuple[type[CommandModel], ...] = (
    RegisterPipeline,
    UnregisterPipeline,
    UpdatePipelineStatus,
    ReportResourceUsage,
    CheckResourceAvailability,
    GetSystemStatus,
    GetPipelineInfo,
    ListPipelines,
    SetPipelineLabels,
    SetResourceLimits,
    ResetResourceLimits,
    CreateGroup,
    SetGroupQuota,
    SetGroupState,
    DeleteGroup,
    MovePipeline,
    GetGroup,
    ListGroups,
    ReserveResources,
    ReleaseReservation,
    ListReservations,
    Tick,
    RequestPreemption,
)


def type_name(model: type[CommandModel] | type[EventModel]) -> str:
    """The ``type`` a command or event model carries on the wire."""
    return cast(str, model.model_fields["type"].default)


CAUSED_BY: dict[str, str] = {
    type_name(event): type_name(command)
    for command in COMMAND_TYPES
    for event in command.declared.emits
}
"""Which command type each event type answers, for replaying replies of applied commands."""

REPLIES_WITH_SUMMARY: frozenset[str] = frozenset(
    type_name(command)
    for command in COMMAND_TYPES
    if command.declared.replies is SuccessReply.SUMMARY
)
"""Command types whose accepted commands reply with the state summary."""

REPLIES_FROM_CHANGE: frozenset[str] = frozenset(
    type_name(command)
    for command in COMMAND_TYPES
    if command.declared.replies
    in (SuccessReply.SUMMARY, SuccessReply.RESULT, SuccessReply.ACCEPTED)
)
"""Command types whose accepted commands reply with what their change reports."""

SUMMARY_EVENTS: frozenset[str] = frozenset(
    event for event, command in CAUSED_BY.items() if command in REPLIES_WITH_SUMMARY
)
"""Event types whose change carries the summary reply of the command that caused them."""

RESULT_EVENTS: frozenset[str] = frozenset(
    type_name(event)
    for command in COMMAND_TYPES
    if command.declared.replies is SuccessReply.RESULT
    for event in command.declared.emits
)
"""Event types whose change carries what it made (the pipeline, the group, the limits after it)."""

FIRE_AND_FORGET: frozenset[str] = frozenset(
    type_name(command).lower()
    for command in COMMAND_TYPES
    if command.declared.replies is SuccessReply.NOTHING
)
"""Command types (lower-case, as the worker reads any case) answered only when refused."""
