"""What the runtime limits commands decide: ``SetResourceLimits`` and ``ResetResourceLimits``.

The limits live in the journal; each change counts one revision, and a stale
``expectedRevision`` is refused with ``REVISION_CONFLICT`` (answered, not dead-lettered).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from coordinator.domain.commands import ResetResourceLimits, SetResourceLimits
from coordinator.domain.decision import Accepted, Decision, Refused, invalid
from coordinator.domain.events import ResourceLimitsChanged, ResourceLimitsReset
from coordinator.domain.model import LimitsOverride
from coordinator.domain.replies import ErrorCode, ErrorInfo
from coordinator.domain.validation import (
    MAX_REASON_LENGTH,
    ceiling_problem,
    count_problem,
    text_problem,
)
from coordinator.domain.view import StateView

LimitsCommand = SetResourceLimits | ResetResourceLimits


def _limits_refusal(command: LimitsCommand, state: StateView) -> Refused | None:
    """A reason that is not text, or an ``expectedRevision`` that is not the current one."""
    if command.reason is not None:
        problem = text_problem("reason", command.reason, MAX_REASON_LENGTH)
        if problem is not None:
            return invalid(problem)
    current = state.summary.limits_revision
    if command.expected_revision is not None and command.expected_revision != current:
        error = ErrorInfo(
            code=ErrorCode.REVISION_CONFLICT,
            message=(
                f"expectedRevision {command.expected_revision} is not the current revision "
                f"{current} of the resource limits: read them again (GetSystemStatus) and retry"
            ),
        )
        return Refused(error, dead_letter=False)
    return None


def set_limits(command: SetResourceLimits, state: StateView, seq: int, at: datetime) -> Decision:
    cpu, memory = command.max_cpu_percent, command.max_memory_mb
    if cpu is None and memory is None:
        return invalid("SetResourceLimits needs maxCpuPercent, maxMemoryMB or both")
    problem = (None if cpu is None else ceiling_problem("maxCpuPercent", cpu)) or (
        None if memory is None else count_problem("maxMemoryMB", memory)
    )
    if problem is not None:
        return invalid(problem)
    refusal = _limits_refusal(command, state)
    if refusal is not None:
        return refusal
    summary = state.summary
    current = summary.limits or LimitsOverride()
    limits = LimitsOverride(
        max_cpu_percent=current.max_cpu_percent if cpu is None else cpu,
        max_memory_mb=current.max_memory_mb if memory is None else memory,
    )
    event = ResourceLimitsChanged(
        **_limits_stamp(command, state, seq, at), limits=limits, reason=command.reason
    )
    return Accepted((event,))


def reset_limits(
    command: ResetResourceLimits, state: StateView, seq: int, at: datetime
) -> Decision:
    refusal = _limits_refusal(command, state)
    if refusal is not None:
        return refusal
    event = ResourceLimitsReset(**_limits_stamp(command, state, seq, at), reason=command.reason)
    return Accepted((event,))


def _limits_stamp(
    command: LimitsCommand, state: StateView, seq: int, at: datetime
) -> dict[str, Any]:
    """The fields every limits event has: the one before it and the next revision."""
    summary = state.summary
    return {
        "seq": seq,
        "command_id": command.command_id,
        "timestamp": at,
        "previous": summary.limits,
        "revision": summary.limits_revision + 1,
    }
