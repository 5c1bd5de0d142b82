"""The coordinator's functional core: commands, events, state, ``decide`` and ``evolve``.

Nothing in this package imports anything but the standard library and pydantic: no Kafka, no
faust, no asyncio, no logging, no clock and no uuid. Time and limits arrive as arguments.
"""

from coordinator.domain.codec import DecodeError, decode_command, decode_event, encode
from coordinator.domain.commands import (
    CheckResourceAvailability,
    Command,
    CommandModel,
    GetPipelineInfo,
    GetSystemStatus,
    ListPipelines,
    RegisterPipeline,
    ReportResourceUsage,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.decider import (
    Accepted,
    AlreadyApplied,
    Answered,
    Context,
    Decision,
    Refused,
    decide,
)
from coordinator.domain.events import (
    Event,
    PipelineRegistered,
    PipelineStatusUpdated,
    PipelineUnregistered,
    ResourceUsageReported,
)
from coordinator.domain.model import (
    HealthStatus,
    PipelineInfo,
    PipelineStatus,
    ResourceLimits,
    Summary,
    SystemHealth,
)
from coordinator.domain.replies import (
    ErrorCode,
    ErrorInfo,
    PipelinePage,
    Reply,
    StateSummary,
    SystemStatus,
)
from coordinator.domain.state import (
    Change,
    CoordinatorState,
    apply_change,
    change_for,
    evolve,
    fold,
)
from coordinator.domain.view import AppliedCommand, StateView

__all__ = [
    "Accepted",
    "AlreadyApplied",
    "Answered",
    "AppliedCommand",
    "Change",
    "CheckResourceAvailability",
    "Command",
    "CommandModel",
    "Context",
    "CoordinatorState",
    "Decision",
    "DecodeError",
    "ErrorCode",
    "ErrorInfo",
    "Event",
    "GetPipelineInfo",
    "GetSystemStatus",
    "HealthStatus",
    "ListPipelines",
    "PipelineInfo",
    "PipelinePage",
    "PipelineRegistered",
    "PipelineStatus",
    "PipelineStatusUpdated",
    "PipelineUnregistered",
    "Refused",
    "RegisterPipeline",
    "Reply",
    "ReportResourceUsage",
    "ResourceLimits",
    "ResourceUsageReported",
    "StateSummary",
    "StateView",
    "Summary",
    "SystemHealth",
    "SystemStatus",
    "UnregisterPipeline",
    "UpdatePipelineStatus",
    "apply_change",
    "change_for",
    "decide",
    "decode_command",
    "decode_event",
    "encode",
    "evolve",
    "fold",
]
