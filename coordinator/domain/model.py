"""The coordinator's nouns: pipeline status and info, health, limits, and the running summary."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    Strict,
    field_serializer,
    model_validator,
)

from coordinator.domain.wire import AnyCase, Timestamp, WireModel, replaced

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


class PreemptionRequest(WireModel):
    """A request that a pipeline give way (``RequestPreemption``): the coordinator kills nothing,
    the pipeline's reporter sees it and its owner decides."""

    requested_at: Timestamp
    for_pipeline_id: str | None = None
    """The pipeline waiting for the room, when one was named."""
    reason: str


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
    group: str = "default"
    requested_cpu_percent: float | None = None
    """Asked for at admission; the pipeline's charge is the greater of this and its report."""
    requested_memory_mb: int | None = Field(default=None, alias="requestedMemoryMB")
    priority: int = 0
    preemptible: bool = True
    labels: dict[str, str] = Field(default_factory=dict)
    status_since: Timestamp | None = None
    """When the status last changed (null: recorded before this was kept, unchanged since)."""
    stale: bool = False
    """No heartbeat for longer than the stale threshold, in journal time (set in answers)."""
    preemption_requested: PreemptionRequest | None = None
    """The latest request that this pipeline give way, if any."""


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


class LimitsOverride(WireModel):
    """The runtime limits the journal holds; a dimension left out is the configuration's."""

    max_cpu_percent: float | None = None
    max_memory_mb: int | None = Field(default=None, alias="maxMemoryMB")

    def over(self, configured: ResourceLimits) -> ResourceLimits:
        """The limits in force: this override's dimensions, else the configuration's."""
        return ResourceLimits(
            max_cpu_percent=(
                configured.max_cpu_percent if self.max_cpu_percent is None else self.max_cpu_percent
            ),
            max_memory_mb=(
                configured.max_memory_mb if self.max_memory_mb is None else self.max_memory_mb
            ),
        )


LimitsSource = Literal["journal", "configuration"]


class EffectiveLimits(ResourceLimits):
    """The limits in force: where they come from, and the revision of the journal's override
    (0 until the first ``SetResourceLimits``; a stale ``expectedRevision`` is refused)."""

    source: LimitsSource = "configuration"
    revision: int = 0


CPU_SCALE_BITS = 1074
"""Every finite double is an integer multiple of 2**-1074 (the smallest subnormal)."""


def cpu_units(value: float) -> int:
    """``value`` as an exact integer count of 2**-1074: sums of these never round."""
    numerator, denominator = value.as_integer_ratio()
    return numerator << (CPU_SCALE_BITS + 1 - denominator.bit_length())


def _units_from_text(value: object) -> object:
    if isinstance(value, str):
        if "/" in value:  # an exact fraction, as written by earlier versions
            return int(Fraction(value) * (1 << CPU_SCALE_BITS))
        return int(value)
    return value


ExactSum = Annotated[
    int,
    BeforeValidator(_units_from_text),
    PlainSerializer(str, return_type=str),
]
"""A sum of floats kept exactly (in units of 2**-1074), so that adding and later removing a
report leaves no residue. Integer arithmetic is ten times faster than ``Fraction``."""


def _zero_counts() -> dict[PipelineStatus, int]:
    return dict.fromkeys(PipelineStatus, 0)


DEFAULT_GROUP = "default"
"""The group a pipeline registered without one belongs to; it always exists."""


class GroupState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    """Refuses new pipelines (``GROUP_CLOSED``); its running pipelines stay."""


GroupStateField = Annotated[GroupState, Strict(strict=False), AnyCase]
"""A group state field: lower-case out, any case in (also inside strict commands)."""


class GroupQuota(WireModel):
    """A group's hard caps at admission; a dimension left out has no cap."""

    max_cpu_percent: float | None = None
    max_memory_mb: int | None = Field(default=None, alias="maxMemoryMB")
    max_pipelines: int | None = None


class Group(WireModel):
    """A pipeline group as the state keeps it: its definition, and its pipelines' charges summed
    exactly (a pipeline's charge is, per dimension, the greater of its request and its report)."""

    group_id: str
    labels: dict[str, str] = Field(default_factory=dict)
    quota: GroupQuota = Field(default_factory=GroupQuota)
    state: GroupStateField = GroupState.OPEN
    revision: int = 0
    """Counts the changes to the group's definition (0: never changed, the default group)."""
    created_at: Timestamp | None = None
    charged_cpu: ExactSum = 0
    charged_memory_mb: int = Field(default=0, alias="chargedMemoryMB")
    count_by_status: dict[Annotated[PipelineStatus, AnyCase], int] = Field(
        default_factory=_zero_counts
    )

    @property
    def pipelines(self) -> int:
        return sum(self.count_by_status.values())

    @property
    def charged_cpu_percent(self) -> float:
        return self.charged_cpu / (1 << CPU_SCALE_BITS)


class Reservation(WireModel):
    """Capacity held in a group for a pipeline still to register (``ReserveResources``): it counts
    as used, with one pipeline slot, until a registration consumes it, it is released, or a
    ``Tick`` at or after ``expiresAt`` expires it."""

    reservation_id: str
    group_id: str
    cpu_percent: float
    memory_mb: int = Field(alias="memoryMB")
    created_at: Timestamp
    expires_at: Timestamp


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
    cpu_total: ExactSum = 0
    memory_mb_total: int = Field(default=0, alias="memoryMBTotal")
    last_updated: Timestamp | None = None
    applied_count: int = 0
    limits: LimitsOverride | None = None
    """The journal's runtime limits (``SetResourceLimits``); None: the configuration's."""
    limits_revision: int = 0
    """How many times the runtime limits were set or reset."""
    stored_groups: dict[str, Group] = Field(default_factory=dict, alias="groups")
    """Every pipeline group by id, the default group included, as the state keeps them: the
    default group's usage (charges and counts) is left implicit, zero here, and ``groups``
    makes it. Most pipelines are in the default group, and their events then change no group."""
    excess_cpu: ExactSum = Field(default=0, exclude=True)
    """How much more every pipeline is charged than it reports (its requests above its reports),
    summed: the total charge is ``cpu_total`` plus this. Not written: it follows from the
    groups as written (``_usage_made_implicit``)."""
    excess_memory_mb: int = Field(default=0, exclude=True)
    reservations: dict[str, Reservation] = Field(default_factory=dict)
    """The reservations outstanding, by id (few: ``MAX_RESERVATIONS``)."""

    @model_validator(mode="after")
    def _usage_made_implicit(self) -> Summary:
        """Read from the groups as written (every group's usage, the default's included): the
        excess is what they are charged beyond the totals, and the default group keeps none of
        its usage. A summary recorded before groups existed has all its pipelines in the
        default group, charged their reports (there were no requests).

        Pydantic runs this again on a ``Summary`` given to another model (``CoordinatorState``),
        whose default group keeps no usage any more: ``excess_cpu`` in the fields set says so."""
        if "excess_cpu" in self.__pydantic_fields_set__:
            return self
        stored = self.stored_groups
        charged_cpu = sum(group.charged_cpu for group in stored.values())
        charged_memory = sum(group.charged_memory_mb for group in stored.values())
        default = stored.get(DEFAULT_GROUP)
        if default is None:  # the default group is charged the totals
            default = Group(group_id=DEFAULT_GROUP)
            charged_cpu += self.cpu_total
            charged_memory += self.memory_mb_total
        self.__dict__["excess_cpu"] = charged_cpu - self.cpu_total
        self.__dict__["excess_memory_mb"] = charged_memory - self.memory_mb_total
        implicit = replaced(
            default,
            {"charged_cpu": 0, "charged_memory_mb": 0, "count_by_status": _zero_counts()},
        )
        # In its place; a default group made here comes first, as it always did.
        groups = {**stored} if DEFAULT_GROUP in stored else {DEFAULT_GROUP: implicit, **stored}
        groups[DEFAULT_GROUP] = implicit
        self.__dict__["stored_groups"] = groups
        self.__pydantic_fields_set__.update(("excess_cpu", "excess_memory_mb"))
        return self

    @property
    def groups(self) -> dict[str, Group]:
        """Every pipeline group by id, the default group's usage made from the totals less the
        other groups' (a new mapping and a new default ``Group`` at each call)."""
        stored = self.stored_groups
        cpu = self.cpu_total + self.excess_cpu
        memory = self.memory_mb_total + self.excess_memory_mb
        counts = dict(self.count_by_status)
        for group_id, group in stored.items():
            if group_id != DEFAULT_GROUP:
                cpu -= group.charged_cpu
                memory -= group.charged_memory_mb
                for status, count in group.count_by_status.items():
                    counts[status] = counts.get(status, 0) - count
        default = stored.get(DEFAULT_GROUP) or Group(group_id=DEFAULT_GROUP)
        usage = {"charged_cpu": cpu, "charged_memory_mb": memory, "count_by_status": counts}
        return {**stored, DEFAULT_GROUP: replaced(default, usage)}

    @field_serializer("stored_groups")
    def _groups_as_written(self, _stored: dict[str, Group]) -> dict[str, Group]:
        """Written with the default group's usage, as before it was left implicit."""
        return self.groups

    @property
    def total_pipelines(self) -> int:
        return sum(self.count_by_status.values())

    @property
    def total_cpu_percent(self) -> float:
        """The exact sum, rounded once (integer true division rounds correctly)."""
        return self.cpu_total / (1 << CPU_SCALE_BITS)

    def count(self, status: PipelineStatus) -> int:
        return self.count_by_status.get(status, 0)

    def limits_over(self, configured: ResourceLimits) -> EffectiveLimits:
        """The limits in force given the configured ones (never folded into the state)."""
        limits = configured if self.limits is None else self.limits.over(configured)
        return EffectiveLimits(
            max_cpu_percent=limits.max_cpu_percent,
            max_memory_mb=limits.max_memory_mb,
            source="configuration" if self.limits is None else "journal",
            revision=self.limits_revision,
        )


def latest(moment: datetime, previous: datetime | None) -> datetime:
    """The later of two instants; journal time never runs backwards."""
    if previous is None or moment >= previous:
        return moment
    return previous
