"""Commands: what producers ask of the coordinator (SPEC §3, design document "Commands").

The models check shape and types only (a string where a string belongs, a number where a number
belongs); the rules about values (ranges, lengths, blank names) belong to the decider, so that a
refusal names the rule and carries ``INVALID_ARGUMENT``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from coordinator.domain.model import Status
from coordinator.domain.wire import WireModel


class CommandModel(WireModel):
    """Fields every command may carry; strict types so ``"15"`` is not silently a number."""

    # NaN and infinities go out as NaN/Infinity (which the coordinator reads and refuses with
    # INVALID_ARGUMENT), not as null (which would be refused as the wrong type).
    model_config = ConfigDict(strict=True, ser_json_inf_nan="constants")

    type: str
    command_id: str | None = None
    reply_to: str | None = None
    correlation_id: str | None = None

    @property
    def effective_correlation_id(self) -> str | None:
        """``correlationId`` as given, else the ``commandId`` (SPEC §3)."""
        return self.correlation_id if self.correlation_id is not None else self.command_id


class RegisterPipeline(CommandModel):
    type: Literal["RegisterPipeline"] = "RegisterPipeline"
    pipeline_id: str
    name: str


class UnregisterPipeline(CommandModel):
    type: Literal["UnregisterPipeline"] = "UnregisterPipeline"
    pipeline_id: str


class UpdatePipelineStatus(CommandModel):
    type: Literal["UpdatePipelineStatus"] = "UpdatePipelineStatus"
    pipeline_id: str
    status: Status
    total_records: int
    failed_records: int


class ReportResourceUsage(CommandModel):
    type: Literal["ReportResourceUsage"] = "ReportResourceUsage"
    pipeline_id: str
    cpu_percent: float
    memory_mb: int = Field(alias="memoryMB")


class CheckResourceAvailability(CommandModel):
    type: Literal["CheckResourceAvailability"] = "CheckResourceAvailability"
    estimated_cpu_percent: float
    estimated_memory_mb: int = Field(alias="estimatedMemoryMB")


class GetSystemStatus(CommandModel):
    type: Literal["GetSystemStatus"] = "GetSystemStatus"


class GetPipelineInfo(CommandModel):
    type: Literal["GetPipelineInfo"] = "GetPipelineInfo"
    pipeline_id: str


class ListPipelines(CommandModel):
    type: Literal["ListPipelines"] = "ListPipelines"
    status: Status | None = None
    limit: int | None = None
    after: str | None = None


Command = Annotated[
    RegisterPipeline
    | UnregisterPipeline
    | UpdatePipelineStatus
    | ReportResourceUsage
    | CheckResourceAvailability
    | GetSystemStatus
    | GetPipelineInfo
    | ListPipelines,
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
)
