"""What ``decide`` returns, and what it needs from outside the state (``Context``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from coordinator.domain.events import Event
from coordinator.domain.model import ResourceLimits
from coordinator.domain.queries import DEFAULT_MAX_REPLY_BYTES
from coordinator.domain.replies import ErrorCode, ErrorInfo, ReplyValue
from coordinator.domain.validation import MAX_ID_LENGTH, text_problem
from coordinator.domain.view import AppliedCommand

DEFAULT_REPLY_PREFIX = "coordinator.replies"


@dataclass(frozen=True, slots=True)
class Context:
    """Everything ``decide`` needs from outside the state."""

    now: datetime
    limits: ResourceLimits = field(default_factory=ResourceLimits)
    reply_prefix: str = DEFAULT_REPLY_PREFIX
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES
    stale_after: timedelta | None = None
    """A pipeline without a heartbeat for longer (in journal time) is reported stale."""


@dataclass(frozen=True, slots=True)
class Accepted:
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Answered:
    value: ReplyValue


@dataclass(frozen=True, slots=True)
class Refused:
    error: ErrorInfo
    dead_letter: bool
    """Invalid input goes to the dead-letter topic; business refusals (not found, already
    registered) are answered only."""
    can_reply: bool = True
    """False when ``replyTo`` itself is the problem: nothing may be written there."""


@dataclass(frozen=True, slots=True)
class AlreadyApplied:
    original: AppliedCommand


Decision = Accepted | Answered | Refused | AlreadyApplied


def invalid(message: str) -> Refused:
    return Refused(ErrorInfo(code=ErrorCode.INVALID_ARGUMENT, message=message), dead_letter=True)


def id_problem(pipeline_id: str) -> Refused | None:
    problem = text_problem("pipelineId", pipeline_id, MAX_ID_LENGTH)
    return invalid(problem) if problem is not None else None


def not_found(pipeline_id: str) -> Refused:
    error = ErrorInfo(
        code=ErrorCode.PIPELINE_NOT_FOUND,
        message=f"pipeline {pipeline_id!r} is not registered",
    )
    return Refused(error, dead_letter=False)
