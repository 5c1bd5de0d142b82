"""What the group commands decide, and admission: whether a new pipeline (or a moved one) fits.

Pure, like ``decider``: the limits in force come in through ``Context``. Every refusal of an
admission names the rule that binds (``QUOTA_EXCEEDED`` with its scope, group, dimension,
requested, used and limit) and the pipelines whose preemption would make room.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from coordinator.domain.commands import (
    CheckResourceAvailability,
    CreateGroup,
    DeleteGroup,
    GetGroup,
    ListGroups,
    MovePipeline,
    SetGroupQuota,
    SetGroupState,
)
from coordinator.domain.decision import (
    Accepted,
    Answered,
    Context,
    Decision,
    Refused,
    id_problem,
    invalid,
    not_found,
)
from coordinator.domain.events import (
    GroupCreated,
    GroupDeleted,
    GroupQuotaChanged,
    GroupStateChanged,
    PipelineMoved,
)
from coordinator.domain.groups import (
    Amounts,
    Demand,
    binding_for,
    charge_of,
    group_info,
    held_by_reservations,
    preemption_candidates,
    quota_merged,
)
from coordinator.domain.model import CPU_SCALE_BITS, DEFAULT_GROUP, Group, GroupQuota
from coordinator.domain.queries import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from coordinator.domain.replies import Availability, Binding, ErrorCode, ErrorInfo, GroupPage
from coordinator.domain.selector import labels_problem
from coordinator.domain.validation import (
    MAX_ID_LENGTH,
    MAX_REASON_LENGTH,
    ceiling_problem,
    count_problem,
    text_problem,
)
from coordinator.domain.view import StateView

MAX_GROUPS = 1000
"""Groups are few (teams, projects, namespaces): each has its own gauges, and all of them are kept
in the state's summary."""
MAX_PRIORITY = 2**31 - 1


def _refused(code: ErrorCode, message: str) -> Refused:
    return Refused(ErrorInfo(code=code, message=message), dead_letter=False)


def group_id_problem(group_id: str) -> Refused | None:
    problem = text_problem("groupId", group_id, MAX_ID_LENGTH)
    return invalid(problem) if problem is not None else None


def group_not_found(group_id: str) -> Refused:
    return _refused(ErrorCode.GROUP_NOT_FOUND, f"group {group_id!r} does not exist")


def priority_problem(priority: int) -> str | None:
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        return f"priority must be between {-MAX_PRIORITY} and {MAX_PRIORITY}, got {priority}"
    return None


def admit(
    state: StateView,
    context: Context,
    group: Group,
    demand: Demand,
    priority: int,
    *,
    check_limits: bool = True,
) -> Refused | None:
    """Why ``demand`` may not be admitted into ``group``, or None when it fits."""
    if group.state == "closed":
        return _refused(
            ErrorCode.GROUP_CLOSED,
            f"group {group.group_id!r} is closed: it accepts no new pipelines",
        )
    limits = state.summary.limits_over(context.limits) if check_limits else None
    held = held_by_reservations(state.summary, group.group_id)
    binding = binding_for(state.summary, group, demand, limits, held=held)
    if binding is None:
        return None
    candidates, fits = preemption_candidates(
        state, group, demand, limits, priority=priority, binding=binding
    )
    where = "the limits in force" if binding.scope == "global" else f"group {group.group_id!r}"
    message = (
        f"exceeded quota: {where}, {binding.dimension}: requested {binding.requested}, "
        f"used {binding.used}, limited {binding.limit}"
    )
    reserved = _reserved_part(held, binding)
    if reserved:
        message += f" ({reserved} of it reserved)"
    if fits:
        message += f"; preempting {', '.join(candidates)} would make it fit"
    error = ErrorInfo.model_validate(
        {
            "code": ErrorCode.QUOTA_EXCEEDED,
            "message": message,
            **binding.model_dump(by_alias=True),
            "preemptionCandidates": candidates,
            "fitsAfterPreemption": fits,
        }
    )
    return Refused(error, dead_letter=False)


def _reserved_part(held: Amounts, binding: Binding) -> float:
    """How much of the usage a refusal names is held by reservations."""
    in_group = binding.scope == "group"
    match binding.dimension:
        case "pipelines":
            return held.group_pipelines
        case "cpuPercent":
            return (held.group_cpu if in_group else held.total_cpu) / (1 << CPU_SCALE_BITS)
        case "memoryMB":
            return held.group_memory if in_group else held.total_memory


def check(command: CheckResourceAvailability, state: StateView, context: Context) -> Decision:
    """``CheckResourceAvailability``: true/false as the design document has it, or, with
    ``detail``, the rule that binds and the preemption candidates. Without ``group`` only the
    limits in force are checked (no pipeline slot is asked for)."""
    group = _group_or_default(state, command.group)
    if group is None:
        return group_not_found(command.group or DEFAULT_GROUP)
    cpu, memory = command.estimated_cpu_percent, command.estimated_memory_mb
    demand = Demand(cpu, memory, pipelines=0 if command.group is None else 1)
    scope = group if command.group is not None else Group(group_id=DEFAULT_GROUP)
    limits = state.summary.limits_over(context.limits)
    binding = binding_for(state.summary, scope, demand, limits, admission=False)
    if not command.detail:
        return Answered(binding is None)
    candidates: list[str] = []
    fits = False
    if binding is not None:
        candidates, fits = preemption_candidates(
            state,
            scope,
            demand,
            limits,
            priority=command.priority or 0,
            binding=binding,
            admission=False,
        )
    return Answered(
        Availability(
            available=binding is None,
            binding=binding,
            preemption_candidates=candidates,
            fits_after_preemption=fits,
        )
    )


def _group_or_default(state: StateView, group_id: str | None) -> Group | None:
    return state.summary.groups.get(group_id if group_id is not None else DEFAULT_GROUP)


def _stamp(command: Any, group: Group | None, seq: int, at: datetime) -> dict[str, Any]:
    return {
        "seq": seq,
        "command_id": command.command_id,
        "group_id": command.group_id,
        "timestamp": at,
        "revision": (group.revision if group is not None else 0) + 1,
    }


def _existing(command: Any, state: StateView) -> Group | Refused:
    """The group a command names, or why it is refused (a bad id, none such, a stale revision)."""
    refusal = group_id_problem(command.group_id)
    if refusal is not None:
        return refusal
    group = state.summary.groups.get(command.group_id)
    if group is None:
        return group_not_found(command.group_id)
    expected = getattr(command, "expected_revision", None)
    if expected is not None and expected != group.revision:
        return _refused(
            ErrorCode.REVISION_CONFLICT,
            f"expectedRevision {expected} is not the current revision {group.revision} of group "
            f"{group.group_id!r}: read it again (GetGroup) and retry",
        )
    return group


def create(command: CreateGroup, state: StateView, seq: int, at: datetime) -> Decision:
    refusal = group_id_problem(command.group_id)
    if refusal is not None:
        return refusal
    labels = command.labels or {}
    problem = labels_problem(labels)
    if problem is not None:
        return invalid(problem)
    groups = state.summary.groups
    if command.group_id in groups:
        return _refused(
            ErrorCode.GROUP_ALREADY_EXISTS, f"group {command.group_id!r} already exists"
        )
    if len(groups) >= MAX_GROUPS:
        return _refused(
            ErrorCode.TOO_MANY_GROUPS,
            f"there are {len(groups)} groups already, the most there may be ({MAX_GROUPS})",
        )
    return Accepted((GroupCreated(**_stamp(command, None, seq, at), labels=labels),))


def _quota_problem(command: SetGroupQuota) -> str | None:
    if command.max_cpu_percent is not None:
        problem = ceiling_problem("maxCpuPercent", command.max_cpu_percent)
        if problem is not None:
            return problem
    for name, value in (
        ("maxMemoryMB", command.max_memory_mb),
        ("maxPipelines", command.max_pipelines),
    ):
        if value is not None:
            problem = count_problem(name, value)
            if problem is not None:
                return problem
    if command.reason is not None:
        return text_problem("reason", command.reason, MAX_REASON_LENGTH)
    return None


def set_quota(command: SetGroupQuota, state: StateView, seq: int, at: datetime) -> Decision:
    problem = _quota_problem(command)
    if problem is not None:
        return invalid(problem)
    given = command.model_fields_set & {"max_cpu_percent", "max_memory_mb", "max_pipelines"}
    if not given:
        return invalid("SetGroupQuota needs maxCpuPercent, maxMemoryMB or maxPipelines")
    group = _existing(command, state)
    if isinstance(group, Refused):
        return group
    update = GroupQuota(
        max_cpu_percent=command.max_cpu_percent,
        max_memory_mb=command.max_memory_mb,
        max_pipelines=command.max_pipelines,
    )
    event = GroupQuotaChanged(
        **_stamp(command, group, seq, at),
        previous=group.quota,
        quota=quota_merged(group.quota, update, given),
        reason=command.reason,
    )
    return Accepted((event,))


def set_state(command: SetGroupState, state: StateView, seq: int, at: datetime) -> Decision:
    group = _existing(command, state)
    if isinstance(group, Refused):
        return group
    return Accepted((GroupStateChanged(**_stamp(command, group, seq, at), state=command.state),))


def delete(command: DeleteGroup, state: StateView, seq: int, at: datetime) -> Decision:
    group = _existing(command, state)
    if isinstance(group, Refused):
        return group
    if group.group_id == DEFAULT_GROUP:
        return invalid("the default group always exists: it cannot be deleted")
    if group.pipelines > 0:
        return _refused(
            ErrorCode.GROUP_NOT_EMPTY,
            f"group {group.group_id!r} has {group.pipelines} pipelines: move or unregister them "
            "first",
        )
    held = held_by_reservations(state.summary, group.group_id)
    if held.group_pipelines > 0:
        return _refused(
            ErrorCode.GROUP_NOT_EMPTY,
            f"group {group.group_id!r} has {held.group_pipelines} outstanding reservations: "
            "release them (ReleaseReservation) or let them expire first",
        )
    return Accepted((GroupDeleted(**_stamp(command, group, seq, at)),))


def move(
    command: MovePipeline, state: StateView, context: Context, seq: int, at: datetime
) -> Decision:
    refusal = id_problem(command.pipeline_id) or group_id_problem(command.group_id)
    if refusal is not None:
        return refusal
    pipeline = state.pipeline(command.pipeline_id)
    if pipeline is None:
        return not_found(command.pipeline_id)
    target = state.summary.groups.get(command.group_id)
    if target is None:
        return group_not_found(command.group_id)
    if pipeline.group != target.group_id:
        cpu, memory = charge_of(pipeline)
        demand = Demand(cpu / (1 << CPU_SCALE_BITS), memory)
        refusal = admit(state, context, target, demand, pipeline.priority, check_limits=False)
        if refusal is not None:
            return refusal
    event = PipelineMoved(
        seq=seq,
        command_id=command.command_id,
        pipeline_id=command.pipeline_id,
        timestamp=at,
        from_group=pipeline.group,
        to_group=target.group_id,
    )
    return Accepted((event,))


def get(command: GetGroup, state: StateView) -> Decision:
    refusal = group_id_problem(command.group_id)
    if refusal is not None:
        return refusal
    group = state.summary.groups.get(command.group_id)
    return Answered(group_info(group, state.summary) if group is not None else None)


def list_groups(command: ListGroups, state: StateView) -> Decision:
    if command.limit is not None and command.limit < 1:
        return invalid(f"limit must be at least 1, got {command.limit}")
    if command.after is not None and len(command.after) > MAX_ID_LENGTH:
        return invalid(f"after must be at most {MAX_ID_LENGTH} characters")
    wanted = min(command.limit if command.limit is not None else DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    ids = sorted(
        group_id
        for group_id in state.summary.groups
        if command.after is None or group_id > command.after
    )
    page = ids[:wanted]
    groups = state.summary.groups
    return Answered(
        GroupPage(
            items=[group_info(groups[group_id], state.summary) for group_id in page],
            next=page[-1] if len(ids) > wanted else None,
        )
    )
