"""Logs and metrics for applied batches, in the design document's log form.

Logs are written per command; counters are summed over the batch and incremented once per label
set (a labelled child costs a lock and a lookup each time it is touched).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence

from coordinator.domain.codec import KNOWN_COMMAND_TYPES
from coordinator.domain.commands import (
    CheckResourceAvailability,
    CommandModel,
    CreateGroup,
    DeleteGroup,
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
from coordinator.domain.decider import Accepted, AlreadyApplied, Answered, Refused
from coordinator.domain.events import (
    GroupCreated,
    GroupDeleted,
    GroupQuotaChanged,
    GroupStateChanged,
    PipelineLabelsChanged,
    PipelineMoved,
    PreemptionRequested,
    ReservationExpired,
    ReservationReleased,
    ResourceLimitsChanged,
    ResourceLimitsReset,
    ResourcesReserved,
)
from coordinator.domain.model import Summary
from coordinator.domain.replies import ErrorCode
from coordinator.domain.wire import format_timestamp
from coordinator.logs import quote
from coordinator.worker.feed import FeedItem
from coordinator.worker.metrics import Metrics
from coordinator.worker.processing import BatchResult, Outcome

log = logging.getLogger("coordinator")


_CANONICAL_TYPES = {name.lower(): name for name in KNOWN_COMMAND_TYPES}


def type_label(command_type: str | None) -> str:
    """The ``type`` label of a command: its canonical name, or ``unknown`` for a type that is
    not one (a producer sending made-up types must not make a series for each)."""
    if command_type is None:
        return "unknown"
    return _CANONICAL_TYPES.get(command_type.lower(), "unknown")


def _number(value: float) -> str:
    return f"{value:g}"


class BatchCounts:
    """What one batch adds to the counters, incremented at once by ``flush``."""

    def __init__(self) -> None:
        self.commands: Counter[tuple[str, str]] = Counter()
        self.refusals: Counter[tuple[str, str]] = Counter()
        self.dead_letters: Counter[str] = Counter()
        self.events = 0
        self.registrations = 0
        self.unregistrations = 0
        self.status_updates = 0
        self.resource_reports = 0
        self.unknown_pipeline_updates = 0

    def flush(self, metrics: Metrics) -> None:
        for (kind, result), count in self.commands.items():
            metrics.commands.labels(type=kind, result=result).inc(count)
        for (kind, code), count in self.refusals.items():
            metrics.refusals.labels(type=kind, code=code).inc(count)
        for reason, count in self.dead_letters.items():
            metrics.dead_letters.labels(reason=reason).inc(count)
        for counter, count in (
            (metrics.events, self.events),
            (metrics.registrations, self.registrations),
            (metrics.unregistrations, self.unregistrations),
            (metrics.status_updates, self.status_updates),
            (metrics.resource_reports, self.resource_reports),
            (metrics.unknown_pipeline_updates, self.unknown_pipeline_updates),
        ):
            if count:
                counter.inc(count)


def log_and_count_commit(
    result: BatchResult, items: Sequence[FeedItem], metrics: Metrics, summary: Summary
) -> None:
    """Log and count a batch that has committed: its commands, their latency, the state after."""
    now = time.time()
    for item in items:
        metrics.latency.observe(max(0.0, now - item.timestamp))
    log_and_count_batch(result.outcomes, metrics)
    metrics.batches.inc()
    metrics.observe_summary(summary)
    log.debug(
        "msg=Batch committed commands=%d events=%d records=%d seq=%d",
        len(items),
        len(result.changes),
        len(result.records),
        summary.seq,
    )


def log_and_count_batch(outcomes: Iterable[Outcome], metrics: Metrics) -> None:
    """Log every command's outcome in a batch, and count them all."""
    counts = BatchCounts()
    for outcome in outcomes:
        log_and_count(outcome, counts)
    counts.flush(metrics)


def log_and_count(outcome: Outcome, counts: BatchCounts) -> None:
    """Log one command's outcome and add it to ``counts``."""
    command = outcome.command
    before = outcome.before if outcome.before is not None else Summary()
    kind = type_label(outcome.command_type)
    if outcome.dead_lettered and outcome.error is not None:
        counts.dead_letters[outcome.error.code.value] += 1
        log.warning(
            "msg=Command dead-lettered offset=%d type=%s code=%s reason=%s",
            outcome.offset,
            quote((outcome.command_type or "unknown")[:256]),
            outcome.error.code.value,
            quote(outcome.error.message),
        )
    match outcome.decision:
        case Accepted():
            counts.commands[kind, "accepted"] += 1
            counts.events += len(outcome.events)
            _log_accepted(outcome, counts)
        case Answered(value=value):
            counts.commands[kind, "answered"] += 1
            if isinstance(command, CheckResourceAvailability) and value is False:
                log.warning(
                    "msg=Resources unavailable cpu=%s%% (current=%s%%) memory=%sMB (current=%s)",
                    _number(command.estimated_cpu_percent),
                    _number(before.total_cpu_percent),
                    command.estimated_memory_mb,
                    before.memory_mb_total,
                )
        case Refused(error=error):
            counts.commands[kind, "refused"] += 1
            counts.refusals[kind, error.code.value] += 1
            if error.code is ErrorCode.PIPELINE_NOT_FOUND and isinstance(
                command, UpdatePipelineStatus | ReportResourceUsage
            ):
                counts.unknown_pipeline_updates += 1
                log.info(
                    "msg=Update for unknown pipeline ignored type=%s pipelineId=%s",
                    kind,
                    quote(command.pipeline_id),
                )
            elif not outcome.dead_lettered:
                log.info(
                    "msg=Command refused type=%s code=%s reason=%s",
                    kind,
                    error.code.value,
                    quote(error.message),
                )
        case AlreadyApplied(original=original):
            counts.commands[kind, "duplicate"] += 1
            log.info(
                "msg=Command already applied commandId=%s seq=%d",
                quote(original.command_id),
                original.seq,
            )
        case None:
            counts.commands[kind, "dead_lettered"] += 1


def _log_accepted(outcome: Outcome, counts: BatchCounts) -> None:
    command = outcome.command
    match command:
        case RegisterPipeline():
            counts.registrations += 1
            log.info(
                "msg=Register pipeline pipelineId=%s name=%s",
                quote(command.pipeline_id),
                quote(command.name),
            )
        case UnregisterPipeline():
            counts.unregistrations += 1
            log.info("msg=Unregister pipeline pipelineId=%s", quote(command.pipeline_id))
        case UpdatePipelineStatus():
            counts.status_updates += 1
            log.debug(
                "msg=Update pipeline status pipelineId=%s status=%s records=%d",
                quote(command.pipeline_id),
                command.status.value,
                command.total_records,
            )
        case ReportResourceUsage():
            counts.resource_reports += 1
            log.debug(
                "msg=Report resource usage pipelineId=%s cpu=%s%% memory=%dMB",
                quote(command.pipeline_id),
                _number(command.cpu_percent),
                command.memory_mb,
            )
        case (
            CreateGroup()
            | SetGroupQuota()
            | SetGroupState()
            | DeleteGroup()
            | MovePipeline()
            | SetPipelineLabels()
        ):
            _log_groups(outcome)
        case SetResourceLimits() | ResetResourceLimits():
            _log_limits(outcome)
        case ReserveResources() | ReleaseReservation() | Tick() | RequestPreemption():
            _log_reservations(outcome)
        case _:
            _log_by_declaration(command)


def _log_reservations(outcome: Outcome) -> None:
    for event in outcome.events:
        match event:
            case ResourcesReserved():
                log.info(
                    "msg=Resources reserved reservationId=%s groupId=%s cpu=%s%% memory=%dMB "
                    "expiresAt=%s",
                    quote(event.reservation_id),
                    quote(event.group_id),
                    _number(event.cpu_percent),
                    event.memory_mb,
                    format_timestamp(event.expires_at),
                )
            case ReservationReleased() | ReservationExpired():
                verb = "released" if isinstance(event, ReservationReleased) else "expired"
                log.info(
                    "msg=Reservation %s reservationId=%s groupId=%s",
                    verb,
                    quote(event.reservation_id),
                    quote(event.group_id),
                )
            case PreemptionRequested():
                log.info(
                    "msg=Preemption requested pipelineId=%s forPipelineId=%s reason=%s",
                    quote(event.pipeline_id),
                    _optional(event.for_pipeline_id),
                    quote(event.reason),
                )
            case _:
                pass


def _log_limits(outcome: Outcome) -> None:
    for event in outcome.events:
        match event:
            case ResourceLimitsChanged(limits=limits):
                log.info(
                    "msg=Resource limits set maxCpuPercent=%s maxMemoryMB=%s revision=%d reason=%s",
                    "-" if limits.max_cpu_percent is None else _number(limits.max_cpu_percent),
                    "-" if limits.max_memory_mb is None else limits.max_memory_mb,
                    event.revision,
                    quote(event.reason or "-"),
                )
            case ResourceLimitsReset():
                log.info(
                    "msg=Resource limits reset to the configuration revision=%d reason=%s",
                    event.revision,
                    quote(event.reason or "-"),
                )


def _optional(value: object) -> str:
    return "-" if value is None else quote(str(value))


def _labels(labels: dict[str, str]) -> str:
    shown = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
    return quote(shown) if shown else "-"


def _log_groups(outcome: Outcome) -> None:
    for event in outcome.events:
        match event:
            case GroupCreated(labels=labels):
                log.info(
                    "msg=Group created groupId=%s labels=%s",
                    quote(event.group_id),
                    _labels(labels),
                )
            case PipelineLabelsChanged(labels=labels):
                log.info(
                    "msg=Pipeline labels set pipelineId=%s labels=%s",
                    quote(event.pipeline_id),
                    _labels(labels),
                )
            case GroupQuotaChanged(quota=quota):
                log.info(
                    "msg=Group quota set groupId=%s maxCpuPercent=%s maxMemoryMB=%s "
                    "maxPipelines=%s revision=%d reason=%s",
                    quote(event.group_id),
                    "-" if quota.max_cpu_percent is None else _number(quota.max_cpu_percent),
                    _optional(quota.max_memory_mb),
                    _optional(quota.max_pipelines),
                    event.revision,
                    _optional(event.reason),
                )
            case GroupStateChanged(state=state):
                verb = "closed" if state == "closed" else "opened"
                log.info(
                    "msg=Group %s groupId=%s revision=%d",
                    verb,
                    quote(event.group_id),
                    event.revision,
                )
            case GroupDeleted():
                log.info("msg=Group deleted groupId=%s", quote(event.group_id))
            case PipelineMoved():
                log.info(
                    "msg=Pipeline moved pipelineId=%s from=%s to=%s",
                    quote(event.pipeline_id),
                    quote(event.from_group),
                    quote(event.to_group),
                )
            case _:
                pass


def _log_by_declaration(command: CommandModel | None) -> None:
    """A state-changing command without a line of its own above: what its declaration says it
    does, and its fields, in the same ``key=value`` form (so no command goes unlogged)."""
    if command is None:
        return
    fields = command.model_dump(
        by_alias=True, exclude={"type", "command_id", "reply_to", "correlation_id"}
    )
    described = " ".join(f"{name}={quote(value)}" for name, value in fields.items())
    log.info("msg=%s %s", command.declared.purpose.rstrip("."), described)
