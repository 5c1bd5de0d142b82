"""Logs and metrics for applied batches, in the design document's log form."""

from __future__ import annotations

import logging

from coordinator.domain.commands import (
    CheckResourceAvailability,
    RegisterPipeline,
    ReportResourceUsage,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.decider import Accepted, AlreadyApplied, Answered, Refused
from coordinator.domain.model import Summary
from coordinator.domain.replies import ErrorCode
from coordinator.logs import quote
from coordinator.worker.metrics import Metrics
from coordinator.worker.processing import Outcome

log = logging.getLogger("coordinator")


def _number(value: float) -> str:
    return f"{value:g}"


def observe(outcome: Outcome, metrics: Metrics) -> None:
    """Log one command's outcome and count it."""
    command = outcome.command
    before = outcome.before if outcome.before is not None else Summary()
    kind = outcome.command_type or "unknown"
    if outcome.dead_lettered and outcome.error is not None:
        metrics.dead_letters.labels(reason=outcome.error.code.value).inc()
        log.warning(
            "msg=Command dead-lettered offset=%d type=%s code=%s reason=%s",
            outcome.offset,
            quote(kind),
            outcome.error.code.value,
            quote(outcome.error.message),
        )
    match outcome.decision:
        case Accepted():
            metrics.commands.labels(type=kind, result="accepted").inc()
            metrics.events.inc(len(outcome.events))
            _log_accepted(outcome, metrics)
        case Answered(value=value):
            metrics.commands.labels(type=kind, result="answered").inc()
            if isinstance(command, CheckResourceAvailability) and value is False:
                log.warning(
                    "msg=Resources unavailable cpu=%s%% (current=%s%%) memory=%sMB (current=%s)",
                    _number(command.estimated_cpu_percent),
                    _number(before.total_cpu_percent),
                    command.estimated_memory_mb,
                    before.memory_mb_total,
                )
        case Refused(error=error):
            metrics.commands.labels(type=kind, result="refused").inc()
            metrics.refusals.labels(type=kind, code=error.code.value).inc()
            if error.code is ErrorCode.PIPELINE_NOT_FOUND and isinstance(
                command, UpdatePipelineStatus | ReportResourceUsage
            ):
                metrics.unknown_pipeline_updates.inc()
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
            metrics.commands.labels(type=kind, result="duplicate").inc()
            log.info(
                "msg=Command already applied commandId=%s seq=%d",
                quote(original.command_id),
                original.seq,
            )
        case None:
            metrics.commands.labels(type=kind, result="dead_lettered").inc()


def _log_accepted(outcome: Outcome, metrics: Metrics) -> None:
    command = outcome.command
    match command:
        case RegisterPipeline():
            metrics.registrations.inc()
            log.info(
                "msg=Register pipeline pipelineId=%s name=%s",
                quote(command.pipeline_id),
                quote(command.name),
            )
        case UnregisterPipeline():
            metrics.unregistrations.inc()
            log.info("msg=Unregister pipeline pipelineId=%s", quote(command.pipeline_id))
        case UpdatePipelineStatus():
            metrics.status_updates.inc()
            log.debug(
                "msg=Update pipeline status pipelineId=%s status=%s records=%d",
                quote(command.pipeline_id),
                command.status.value,
                command.total_records,
            )
        case ReportResourceUsage():
            metrics.resource_reports.inc()
            log.debug(
                "msg=Report resource usage pipelineId=%s cpu=%s%% memory=%dMB",
                quote(command.pipeline_id),
                _number(command.cpu_percent),
                command.memory_mb,
            )
        case _:
            pass
