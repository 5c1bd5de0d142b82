"""Pipeline groups at admission: charges, usage against quotas and limits, preemption candidates.

A pipeline's charge is, per dimension, the greater of what it requested at admission and what it
last reported. A group's usage is the sum of its pipelines' charges (kept exactly in the state's
``Group``); the total is the sum over all groups. An outstanding reservation counts as used
too, with one pipeline slot, in its group and in the total. An admission (a registration, a
move, a reservation) fits when, for every dimension, ``used + requested <= limit``: first the
group's quota, then (for a new pipeline) the limits in force, for each dimension the admission
asks for. Reports are facts and
are never refused: a group whose reports exceed its quota is ``overCommitted``, and admits no new
demand on that dimension until its usage drops.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from coordinator.domain.model import (
    CPU_SCALE_BITS,
    Group,
    GroupQuota,
    PipelineInfo,
    ResourceLimits,
    Summary,
    cpu_units,
)
from coordinator.domain.replies import Binding, GroupInfo, GroupUsage
from coordinator.domain.view import StateView

_SCALE = 1 << CPU_SCALE_BITS


def charge_of(info: PipelineInfo | None) -> tuple[int, int]:
    """A pipeline's charge: (CPU in exact units, memory in MB), each the greater of its request
    and its latest report; nothing for no pipeline."""
    if info is None:
        return 0, 0
    requested_cpu = info.requested_cpu_percent
    cpu = info.cpu_percent
    # Compared as floats first: the exact units are only made of the greater one.
    if requested_cpu is not None and requested_cpu > cpu:
        cpu = requested_cpu
    memory = info.memory_mb
    requested_memory = info.requested_memory_mb
    if requested_memory is not None and requested_memory > memory:
        memory = requested_memory
    return cpu_units(cpu), memory


@dataclass(frozen=True, slots=True)
class Demand:
    """What an admission asks for: CPU percent, memory MB and pipeline slots."""

    cpu_percent: float
    memory_mb: int
    pipelines: int = 1


@dataclass(frozen=True, slots=True)
class Amounts:
    """Charges in one group and in all (exact CPU units, memory MB, pipelines): what preemption
    would give back, or what outstanding reservations hold."""

    group_cpu: int = 0
    group_memory: int = 0
    group_pipelines: int = 0
    total_cpu: int = 0
    total_memory: int = 0


def _tally(charges: Iterable[tuple[str, int, int]], group_id: str) -> Amounts:
    """The sum of ``(group, CPU units, memory)`` charges, in ``group_id`` and in all."""
    group_cpu = group_memory = group_pipelines = total_cpu = total_memory = 0
    for charged_group, cpu, memory in charges:
        total_cpu += cpu
        total_memory += memory
        if charged_group == group_id:
            group_cpu += cpu
            group_memory += memory
            group_pipelines += 1
    return Amounts(group_cpu, group_memory, group_pipelines, total_cpu, total_memory)


def held_by_reservations(summary: Summary, group_id: str) -> Amounts:
    """What the reservations hold in ``group_id`` and in all (a scan of the few there are)."""
    return _tally(
        (
            (reservation.group_id, cpu_units(reservation.cpu_percent), reservation.memory_mb)
            for reservation in summary.reservations.values()
        ),
        group_id,
    )


def total_charged(summary: Summary) -> tuple[int, int]:
    """The sum of every group's charges: (CPU in exact units, memory MB), which is the totals of
    the reports plus what requests above them add."""
    return (
        summary.cpu_total + summary.excess_cpu,
        summary.memory_mb_total + summary.excess_memory_mb,
    )


def _over(
    scope: str, group_id: str | None, dimension: str, *, requested: float, used: float, limit: float
) -> Binding | None:
    if used + requested <= limit:
        return None
    return Binding.model_validate(
        {
            "scope": scope,
            "groupId": group_id,
            "dimension": dimension,
            "requested": requested,
            "used": used,
            "limit": limit,
        }
    )


def binding_for(
    summary: Summary,
    group: Group,
    demand: Demand,
    limits: ResourceLimits | None,
    freed: Amounts | None = None,
    *,
    admission: bool = True,
    held: Amounts | None = None,
) -> Binding | None:
    """The first rule ``demand`` breaks, or None when it fits: the group's quota (pipelines,
    CPU, memory), then, when ``limits`` is given, the limits in force (CPU, memory).

    An admission asks only for what it demands: a dimension it demands nothing of is not checked
    (a pipeline registered without a request is refused by no CPU or memory cap, even while
    reports exceed one, as before groups existed). ``CheckResourceAvailability`` compares every
    dimension (``admission=False``), as the design document's ``hasResourcesAvailable`` does.
    What reservations hold (``held``, computed when not given) counts as used."""
    gone = freed if freed is not None else Amounts()
    kept = held if held is not None else held_by_reservations(summary, group.group_id)
    quota = group.quota
    group_id = group.group_id
    checks: list[tuple[str, str | None, str, float, float, float | None]] = [
        (
            "group",
            group_id,
            "pipelines",
            demand.pipelines,
            group.pipelines + kept.group_pipelines - gone.group_pipelines,
            quota.max_pipelines,
        ),
        (
            "group",
            group_id,
            "cpuPercent",
            demand.cpu_percent,
            (group.charged_cpu + kept.group_cpu - gone.group_cpu) / _SCALE,
            quota.max_cpu_percent,
        ),
        (
            "group",
            group_id,
            "memoryMB",
            demand.memory_mb,
            group.charged_memory_mb + kept.group_memory - gone.group_memory,
            quota.max_memory_mb,
        ),
    ]
    if limits is not None:
        cpu, memory = total_charged(summary)
        checks.append(
            (
                "global",
                None,
                "cpuPercent",
                demand.cpu_percent,
                (cpu + kept.total_cpu - gone.total_cpu) / _SCALE,
                limits.max_cpu_percent,
            )
        )
        checks.append(
            (
                "global",
                None,
                "memoryMB",
                demand.memory_mb,
                memory + kept.total_memory - gone.total_memory,
                limits.max_memory_mb,
            )
        )
    for scope, scope_group, dimension, requested, used, limit in checks:
        if limit is None or (admission and requested == 0):
            continue
        binding = _over(scope, scope_group, dimension, requested=requested, used=used, limit=limit)
        if binding is not None:
            return binding
    return None


def _freed(candidates: Iterable[PipelineInfo], group_id: str) -> Amounts:
    return _tally(((info.group, *charge_of(info)) for info in candidates), group_id)


def preemption_candidates(
    view: StateView,
    group: Group,
    demand: Demand,
    limits: ResourceLimits | None,
    *,
    priority: int,
    binding: Binding,
    admission: bool = True,
) -> tuple[list[str], bool]:
    """The pipelines whose preemption would make ``demand`` fit, and whether any set would.

    Eligible: preemptible pipelines of lower priority than ``priority``, in the group if the
    group's quota binds, anywhere if the limits do. They are taken lowest priority first, then
    the most recently registered, until the demand fits; then any whose removal still leaves it
    fitting is dropped again (highest priority, oldest first), so the set is minimal: without
    any one of them, the demand does not fit. A scan of the registry, made only for a refusal.
    """
    in_group = binding.scope == "group"
    eligible = [
        info
        for info in view.pipelines_from(None)
        if info.preemptible
        and info.priority < priority
        and (not in_group or info.group == group.group_id)
    ]
    eligible.sort(key=lambda info: (info.priority, -info.registered_at.timestamp()))
    chosen: list[PipelineInfo] = []
    summary = view.summary
    held = held_by_reservations(summary, group.group_id)

    def fits(freeing: list[PipelineInfo]) -> bool:
        freed = _freed(freeing, group.group_id)
        return (
            binding_for(summary, group, demand, limits, freed, admission=admission, held=held)
            is None
        )

    for info in eligible:
        chosen.append(info)
        if fits(chosen):
            break
    else:
        return [], False
    for info in reversed(chosen[:-1]):
        fewer = [other for other in chosen if other is not info]
        if fits(fewer):
            chosen = fewer
    return [info.pipeline_id for info in chosen], True


def over_quota(group: Group) -> bool:
    """Usage above a dimension of the group's quota."""
    quota = group.quota
    return (
        (quota.max_pipelines is not None and group.pipelines > quota.max_pipelines)
        or (quota.max_cpu_percent is not None and group.charged_cpu_percent > quota.max_cpu_percent)
        or (quota.max_memory_mb is not None and group.charged_memory_mb > quota.max_memory_mb)
    )


def group_info(group: Group, summary: Summary | None = None) -> GroupInfo:
    """The answer of ``GetGroup``: the group as the wire shows it (with what the reservations of
    ``summary`` hold in it, when given)."""
    held = held_by_reservations(summary, group.group_id) if summary is not None else Amounts()
    return GroupInfo(
        group_id=group.group_id,
        labels=dict(group.labels),
        state=group.state,
        quota=group.quota,
        revision=group.revision,
        created_at=group.created_at,
        usage=GroupUsage(
            cpu_percent=group.charged_cpu_percent,
            memory_mb=group.charged_memory_mb,
            pipelines=group.pipelines,
        ),
        reserved=GroupUsage(
            cpu_percent=held.group_cpu / _SCALE,
            memory_mb=held.group_memory,
            pipelines=held.group_pipelines,
        ),
        count_by_status=dict(group.count_by_status),
        over_committed=over_quota(group),
    )


def quota_merged(current: GroupQuota, update: GroupQuota, given: set[str]) -> GroupQuota:
    """``current`` with the dimensions named in ``given`` replaced (``null`` removes a cap)."""
    fields = current.model_dump()
    for name in ("max_cpu_percent", "max_memory_mb", "max_pipelines"):
        if name in given:
            fields[name] = getattr(update, name)
    return GroupQuota.model_validate(fields)
