"""Commands: what producers ask of the coordinator (docs/protocol.md, design document "Commands").

The models check shape and types only (a string where a string belongs, a number where a number
belongs); the rules about values (ranges, lengths, blank names) belong to the decider, so that a
refusal names the rule and carries ``INVALID_ARGUMENT``.

Each command type declares what it is, once, next to its model (``declared``): which events it
may append (none: a query), and what an accepted one replies with. Processing, the clients, the
replay of replies from the journal and the JSON Schemas' descriptions all read that declaration.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Annotated, ClassVar, Literal, cast

from pydantic import ConfigDict, Field

from coordinator.domain.events import (
    EventModel,
    PipelineRegistered,
    PipelineStatusUpdated,
    PipelineUnregistered,
    ResourceLimitsChanged,
    ResourceLimitsReset,
    ResourceUsageReported,
)
from coordinator.domain.model import Status
from coordinator.domain.wire import WireModel


class SuccessReply(Enum):
    """What an accepted command replies with, when it names a ``replyTo``."""

    SUMMARY = "summary"
    """The state summary right after the change (a retry gets the same one again)."""
    RESULT = "result"
    """What the change made (the runtime limits after it); a retry gets the same one again."""
    VALUE = "value"
    """The answer of a query, read from the state it met."""
    NOTHING = "nothing"
    """No reply (fire-and-forget); a refusal is still answered."""


@dataclass(frozen=True, slots=True)
class Declaration:
    """What a command type is: the one place the rest of the coordinator learns it from."""

    purpose: str
    """One sentence: what the command asks."""
    replies: SuccessReply
    emits: tuple[type[EventModel], ...] = ()
    """The events an accepted one may append, in order; none for a query."""
    answer: str = ""
    """For a query: what the value of its reply is."""
    refused_when: str = ""
    """Besides invalid values: when it is refused."""

    @property
    def changes_state(self) -> bool:
        return bool(self.emits)

    @property
    def description(self) -> str:
        """The sentence of the command's JSON Schema."""
        refused = f"; refused if {self.refused_when}" if self.refused_when else ""
        match self.replies:
            case SuccessReply.SUMMARY:
                return f"{self.purpose} Replies with the state summary{refused}."
            case SuccessReply.VALUE | SuccessReply.RESULT:
                return f"{self.purpose} Replies with {self.answer}{refused}."
            case SuccessReply.NOTHING:
                return (
                    f"{self.purpose} Fire-and-forget: a reply only for an error, and only if "
                    "replyTo is given."
                )


class CommandModel(WireModel):
    """Fields every command may carry; strict types so ``"15"`` is not silently a number."""

    # NaN and infinities go out as NaN/Infinity (which the coordinator reads and refuses with
    # INVALID_ARGUMENT), not as null (which would be refused as the wrong type).
    model_config = ConfigDict(strict=True, ser_json_inf_nan="constants")

    declared: ClassVar[Declaration]
    """Set by every command type (``tests/unit/domain/test_declarations.py`` checks it)."""

    type: str
    command_id: str | None = None
    reply_to: str | None = None
    correlation_id: str | None = None

    @property
    def effective_correlation_id(self) -> str | None:
        """``correlationId`` as given, else the ``commandId``."""
        return self.correlation_id if self.correlation_id is not None else self.command_id


class RegisterPipeline(CommandModel):
    declared = Declaration(
        "Register a new pipeline.",
        SuccessReply.SUMMARY,
        emits=(PipelineRegistered,),
        refused_when="the id is already registered or the name is empty",
    )

    type: Literal["RegisterPipeline"] = "RegisterPipeline"
    pipeline_id: str
    name: str


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
    limit: int | None = None
    after: str | None = None


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
    | SetResourceLimits
    | ResetResourceLimits,
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
    SetResourceLimits,
    ResetResourceLimits,
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
    if command.declared.replies in (SuccessReply.SUMMARY, SuccessReply.RESULT)
)
"""Command types whose accepted commands reply with what their change reports."""

SUMMARY_EVENTS: frozenset[str] = frozenset(
    event for event, command in CAUSED_BY.items() if command in REPLIES_WITH_SUMMARY
)
"""Event types whose change carries the summary reply of the command that caused them."""

FIRE_AND_FORGET: frozenset[str] = frozenset(
    type_name(command).lower()
    for command in COMMAND_TYPES
    if command.declared.replies is SuccessReply.NOTHING
)
"""Command types (lower-case, as the worker reads any case) answered only when refused."""
