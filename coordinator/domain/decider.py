"""``decide``: what a command means for the state it meets (the Decider's first half).

Pure: time, limits and the reply prefix come in through ``Context``; nothing here reads a clock,
makes an id, logs or touches Kafka. A decision is one of four things: events to append
(``Accepted``), an answer without a change (``Answered``), a refusal with a stable code
(``Refused``), or the original outcome of a command already applied (``AlreadyApplied``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, assert_never

from coordinator.domain import decide_groups, decide_limits, decide_reservations
from coordinator.domain.commands import (
    CheckResourceAvailability,
    Command,
    CommandModel,
    CreateGroup,
    DeleteGroup,
    GetGroup,
    GetPipelineInfo,
    GetSystemStatus,
    ListGroups,
    ListPipelines,
    ListReservations,
    MovePipeline,
    RegisterPipeline,
    ReleaseReservation,
    ReportResourceUsage,
    RequestPreemption,
    ReserveResources,
    ResetResourceLimits,
    SetGroupQuota,
    SetGroupState,
    SetPipelineLabels,
    SetResourceLimits,
    Tick,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.decision import (
    DEFAULT_REPLY_PREFIX,
    Accepted,
    AlreadyApplied,
    Answered,
    Context,
    Decision,
    Refused,
    id_problem,
    invalid,
    not_found,
)
from coordinator.domain.events import (
    PipelineLabelsChanged,
    PipelineRegistered,
    PipelineStatusUpdated,
    PipelineUnregistered,
    ResourceUsageReported,
)
from coordinator.domain.groups import Demand
from coordinator.domain.model import DEFAULT_GROUP, latest
from coordinator.domain.queries import (
    PipelineFilter,
    list_page,
    marked_stale,
    stale_before,
    system_status,
)
from coordinator.domain.replies import ErrorCode, ErrorInfo
from coordinator.domain.selector import SelectorError, labels_problem, parse_selector
from coordinator.domain.validation import (
    MAX_COMMAND_ID_LENGTH,
    MAX_CORRELATION_ID_LENGTH,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    count_problem,
    percent_problem,
    reply_topic_problem,
    text_problem,
)
from coordinator.domain.view import StateView
from coordinator.domain.wire import truncate_to_millis

__all__ = [
    "DEFAULT_REPLY_PREFIX",
    "Accepted",
    "AlreadyApplied",
    "Answered",
    "Context",
    "Decision",
    "Refused",
    "decide",
    "invalid",
]


def _envelope_problem(command: CommandModel, context: Context) -> Refused | None:
    if command.reply_to is not None:
        problem = reply_topic_problem(command.reply_to, context.reply_prefix)
        if problem is not None:
            error = ErrorInfo(code=ErrorCode.FORBIDDEN_REPLY_TOPIC, message=problem)
            return Refused(error, dead_letter=True, can_reply=False)
    if command.command_id is not None:
        problem = text_problem("commandId", command.command_id, MAX_COMMAND_ID_LENGTH)
        if problem is not None:
            return invalid(problem)
    if command.correlation_id is not None and len(command.correlation_id) > (
        MAX_CORRELATION_ID_LENGTH
    ):
        return invalid(f"correlationId must be at most {MAX_CORRELATION_ID_LENGTH} characters")
    return None


def _unknown(pipeline_id: str, state: StateView) -> Refused | None:
    """Why ``pipeline_id`` names no registered pipeline, or None when it does."""
    if state.pipeline(pipeline_id) is None:
        return not_found(pipeline_id)
    return None


def decide(command: Command, state: StateView, context: Context) -> Decision:
    """Validate ``command`` against ``state`` and say what it does (docs/protocol.md).

    The envelope (``replyTo``, ``commandId``, ``correlationId``) is checked here, once, for
    every command; then a command already applied gets its original outcome, and the others go
    to their own function. Events are built by their validating constructors: pydantic-core
    validates a handful of fields faster than ``model_construct`` copies them in Python
    (measured: 2.0 us against 4.6).
    """
    problem = _envelope_problem(command, context)
    if problem is not None:
        return problem
    if command.command_id is not None:
        original = state.applied(command.command_id)
        if original is not None:
            return AlreadyApplied(original)

    summary = state.summary
    seq = summary.seq + 1
    at = truncate_to_millis(latest(context.now, summary.last_updated))
    match command:
        case RegisterPipeline():
            return _register(command, state, context, seq, at)
        case UnregisterPipeline():
            return _unregister(command, state, seq, at)
        case UpdatePipelineStatus():
            return _update_status(command, state, seq, at)
        case ReportResourceUsage():
            return _report_resources(command, state, seq, at)
        case CheckResourceAvailability():
            return _check_resources(command, state, context)
        case CreateGroup():
            return decide_groups.create(command, state, seq, at)
        case SetGroupQuota():
            return decide_groups.set_quota(command, state, seq, at)
        case SetGroupState():
            return decide_groups.set_state(command, state, seq, at)
        case DeleteGroup():
            return decide_groups.delete(command, state, seq, at)
        case MovePipeline():
            return decide_groups.move(command, state, context, seq, at)
        case GetGroup():
            return decide_groups.get(command, state)
        case ListGroups():
            return decide_groups.list_groups(command, state)
        case GetSystemStatus():
            limits = summary.limits_over(context.limits)
            return Answered(
                system_status(state, limits, context.max_reply_bytes, context.stale_after)
            )
        case GetPipelineInfo():
            found = state.pipeline(command.pipeline_id)
            marked = marked_stale(found, stale_before(state, context.stale_after))
            return id_problem(command.pipeline_id) or Answered(marked)
        case ListPipelines():
            return _list_pipelines(command, state, context)
        case SetPipelineLabels():
            return _set_labels(command, state, seq, at)
        case SetResourceLimits():
            return decide_limits.set_limits(command, state, seq, at)
        case ResetResourceLimits():
            return decide_limits.reset_limits(command, state, seq, at)
        case ReserveResources():
            return decide_reservations.reserve(command, state, context, seq, at)
        case ReleaseReservation():
            return decide_reservations.release(command, state, seq, at)
        case ListReservations():
            return decide_reservations.list_reservations(command, state)
        case Tick():
            return decide_reservations.tick(command, state, seq, at)
        case RequestPreemption():
            return decide_reservations.request_preemption(command, state, seq, at)
        case _:
            assert_never(command)


PipelineCommand = RegisterPipeline | UnregisterPipeline | UpdatePipelineStatus | ReportResourceUsage


def _refusal(
    command: PipelineCommand, state: StateView, problem: str | None = None, *, known: bool = True
) -> Refused | None:
    """Why a command about one pipeline is refused, in this order: its id, its values
    (``problem``), then the pipeline not registered (or, for ``known=False``, registered)."""
    refusal = id_problem(command.pipeline_id)
    if refusal is not None:
        return refusal
    if problem is not None:
        return invalid(problem)
    registered = state.pipeline(command.pipeline_id) is not None
    if known and not registered:
        return not_found(command.pipeline_id)
    if registered and not known:
        error = ErrorInfo(
            code=ErrorCode.PIPELINE_ALREADY_REGISTERED,
            message=f"pipeline {command.pipeline_id!r} is already registered",
        )
        return Refused(error, dead_letter=False)
    return None


def _stamp(command: PipelineCommand, seq: int, at: datetime) -> dict[str, Any]:
    """The fields every event has, for the event ``command`` causes."""
    return {
        "seq": seq,
        "command_id": command.command_id,
        "pipeline_id": command.pipeline_id,
        "timestamp": at,
    }


def _request_problem(command: RegisterPipeline) -> str | None:
    problem = text_problem("name", command.name, MAX_NAME_LENGTH)
    if problem is None and command.requested_cpu_percent is not None:
        problem = percent_problem("requestedCpuPercent", command.requested_cpu_percent)
    if problem is None and command.requested_memory_mb is not None:
        problem = count_problem("requestedMemoryMB", command.requested_memory_mb)
    if problem is None and command.group is not None:
        problem = text_problem("group", command.group, MAX_ID_LENGTH)
    if problem is None and command.priority is not None:
        problem = decide_groups.priority_problem(command.priority)
    return problem


def _register(
    command: RegisterPipeline, state: StateView, context: Context, seq: int, at: datetime
) -> Decision:
    refusal = _refusal(command, state, _request_problem(command), known=False)
    if refusal is not None:
        return refusal
    priority = command.priority if command.priority is not None else 0
    cpu, memory = command.requested_cpu_percent, command.requested_memory_mb
    if command.reservation_id is not None:  # admitted when it was reserved
        reservation = decide_reservations.consumed(command, state, at)
        if isinstance(reservation, Refused):
            return reservation
        group_id, cpu, memory = reservation.group_id, reservation.cpu_percent, reservation.memory_mb
    else:
        group_id = command.group if command.group is not None else DEFAULT_GROUP
        group = state.summary.groups.get(group_id)
        if group is None:
            return decide_groups.group_not_found(group_id)
        demand = Demand(cpu if cpu is not None else 0.0, memory if memory is not None else 0)
        refusal = decide_groups.admit(state, context, group, demand, priority)
        if refusal is not None:
            return refusal
    event = PipelineRegistered(
        **_stamp(command, seq, at),
        name=command.name,
        group=group_id,
        requested_cpu_percent=cpu,
        requested_memory_mb=memory,
        priority=priority,
        preemptible=command.preemptible is not False,
        reservation_id=command.reservation_id,
    )
    return Accepted((event,))


def _unregister(command: UnregisterPipeline, state: StateView, seq: int, at: datetime) -> Decision:
    refusal = _refusal(command, state)
    return refusal or Accepted((PipelineUnregistered(**_stamp(command, seq, at)),))


def _records_problem(command: UpdatePipelineStatus) -> str | None:
    total, failed = command.total_records, command.failed_records
    problem = count_problem("totalRecords", total) or count_problem("failedRecords", failed)
    if problem is None and failed > total:
        problem = f"failedRecords ({failed}) must not exceed totalRecords ({total})"
    return problem


def _update_status(
    command: UpdatePipelineStatus, state: StateView, seq: int, at: datetime
) -> Decision:
    refusal = _refusal(command, state, _records_problem(command))
    if refusal is not None:
        return refusal
    event = PipelineStatusUpdated(
        **_stamp(command, seq, at),
        status=command.status,
        total_records=command.total_records,
        failed_records=command.failed_records,
    )
    return Accepted((event,))


def _report_resources(
    command: ReportResourceUsage, state: StateView, seq: int, at: datetime
) -> Decision:
    cpu, memory = command.cpu_percent, command.memory_mb
    problem = percent_problem("cpuPercent", cpu) or count_problem("memoryMB", memory)
    refusal = _refusal(command, state, problem)
    if refusal is not None:
        return refusal
    return Accepted(
        (ResourceUsageReported(**_stamp(command, seq, at), cpu_percent=cpu, memory_mb=memory),)
    )


def _check_resources(
    command: CheckResourceAvailability, state: StateView, context: Context
) -> Decision:
    problem = percent_problem("estimatedCpuPercent", command.estimated_cpu_percent) or (
        count_problem("estimatedMemoryMB", command.estimated_memory_mb)
    )
    if problem is None and command.group is not None:
        problem = text_problem("group", command.group, MAX_ID_LENGTH)
    if problem is None and command.priority is not None:
        problem = decide_groups.priority_problem(command.priority)
    if problem is not None:
        return invalid(problem)
    return decide_groups.check(command, state, context)


def _list_pipelines(command: ListPipelines, state: StateView, context: Context) -> Decision:
    if command.limit is not None and command.limit < 1:
        return invalid(f"limit must be at least 1, got {command.limit}")
    if command.after is not None and len(command.after) > MAX_ID_LENGTH:
        return invalid(f"after must be at most {MAX_ID_LENGTH} characters")
    if command.group is not None:
        problem = text_problem("group", command.group, MAX_ID_LENGTH)
        if problem is not None:
            return invalid(problem)
    if command.name_prefix is not None and len(command.name_prefix) > MAX_NAME_LENGTH:
        return invalid(f"namePrefix must be at most {MAX_NAME_LENGTH} characters")
    try:
        selector = (
            parse_selector(command.label_selector) if command.label_selector is not None else None
        )
    except SelectorError as error:
        return invalid(str(error))
    where = PipelineFilter(command.status, command.group, selector, command.name_prefix)
    page = list_page(
        state,
        limit=command.limit,
        after=command.after,
        max_bytes=context.max_reply_bytes,
        where=where,
        cutoff=stale_before(state, context.stale_after),
    )
    return Answered(page)


def _set_labels(command: SetPipelineLabels, state: StateView, seq: int, at: datetime) -> Decision:
    problem = labels_problem(command.labels)
    refusal = id_problem(command.pipeline_id) or (invalid(problem) if problem else None)
    if refusal is not None:
        return refusal
    if state.pipeline(command.pipeline_id) is None:
        return not_found(command.pipeline_id)
    event = PipelineLabelsChanged(
        seq=seq,
        command_id=command.command_id,
        pipeline_id=command.pipeline_id,
        timestamp=at,
        labels=dict(command.labels),
    )
    return Accepted((event,))
