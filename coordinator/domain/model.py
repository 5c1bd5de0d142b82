"""The coordinator's nouns: pipeline status and info, health, limits, and the running summary."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Annotated

from pydantic import BeforeValidator, Field, PlainSerializer, Strict

from coordinator.domain.wire import AnyCase, Timestamp, WireModel

MAX_LONG = 2**63 - 1
"""The design document's counters are JVM ``Long``s; we keep the same range on the wire."""


class PipelineStatus(StrEnum):
    CONFIGURED = "configured"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    FAILED = "failed"


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"
    IDLE = "idle"


Status = Annotated[PipelineStatus, Strict(strict=False), AnyCase]
"""A pipeline status field: lower-case out, any case in (also inside strict commands)."""


class PipelineInfo(WireModel):
    """One registered pipeline, as the design document's ``PipelineInfo``."""

    pipeline_id: str
    name: str
    status: Status
    total_records: int
    failed_records: int
    cpu_percent: float
    memory_mb: int = Field(alias="memoryMB")
    registered_at: Timestamp
    last_heartbeat: Timestamp


class SystemHealth(WireModel):
    """The design document's ``SystemHealth``."""

    status: Annotated[HealthStatus, AnyCase]
    total_pipelines: int
    running_pipelines: int
    failed_pipelines: int
    total_cpu_percent: float
    total_memory_mb: int = Field(alias="totalMemoryMB")
    last_updated: Timestamp | None


class ResourceLimits(WireModel):
    """The ceilings ``CheckResourceAvailability`` compares against (design document defaults)."""

    max_cpu_percent: float = 80.0
    max_memory_mb: int = Field(default=80000, alias="maxMemoryMB")


def _fraction_from_text(value: object) -> object:
    if isinstance(value, str):
        return Fraction(value)
    return value


ExactSum = Annotated[
    Fraction,
    BeforeValidator(_fraction_from_text),
    PlainSerializer(str, return_type=str),
]
"""A sum of floats kept exactly, so that adding and later removing a report leaves no residue."""


def _zero_counts() -> dict[PipelineStatus, int]:
    return dict.fromkeys(PipelineStatus, 0)


class Summary(WireModel):
    """Everything about the registry that is not per pipeline, kept up to date event by event.

    ``seq`` is the journal position the state reflects; ``applied_count`` numbers the commands
    remembered for idempotency. Totals are kept exactly (see ``ExactSum``) and rounded once, on
    the way out, so that they always equal the correctly rounded sum of the latest reports.
    """

    seq: int = 0
    count_by_status: dict[Annotated[PipelineStatus, AnyCase], int] = Field(
        default_factory=_zero_counts
    )
    cpu_total: ExactSum = Fraction(0)
    memory_mb_total: int = Field(default=0, alias="memoryMBTotal")
    last_updated: Timestamp | None = None
    applied_count: int = 0

    @property
    def total_pipelines(self) -> int:
        return sum(self.count_by_status.values())

    @property
    def total_cpu_percent(self) -> float:
        return float(self.cpu_total)

    def count(self, status: PipelineStatus) -> int:
        return self.count_by_status.get(status, 0)


def latest(moment: datetime, previous: datetime | None) -> datetime:
    """The later of two instants; journal time never runs backwards."""
    if previous is None or moment >= previous:
        return moment
    return previous
