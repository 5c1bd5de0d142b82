"""The envelope every command may carry: ``replyTo``, ``commandId``, ``correlationId``.

These rules hold for every command type alike, so each test runs over all eight.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from coordinator.domain.commands import (
    CheckResourceAvailability,
    Command,
    GetPipelineInfo,
    GetSystemStatus,
    ListPipelines,
    RegisterPipeline,
    ReportResourceUsage,
    UnregisterPipeline,
    UpdatePipelineStatus,
)
from coordinator.domain.decider import Accepted, AlreadyApplied, Answered, Refused
from coordinator.domain.model import PipelineStatus
from coordinator.domain.replies import ErrorCode

from .support import assert_refused, context, registered, when

CommandMaker = Callable[..., Command]

EVERY_COMMAND: dict[str, CommandMaker] = {
    "RegisterPipeline": lambda **e: RegisterPipeline(pipeline_id="new", name="New", **e),
    "UnregisterPipeline": lambda **e: UnregisterPipeline(pipeline_id="p1", **e),
    "UpdatePipelineStatus": lambda **e: UpdatePipelineStatus(
        pipeline_id="p1", status=PipelineStatus.RUNNING, total_records=2, failed_records=1, **e
    ),
    "ReportResourceUsage": lambda **e: ReportResourceUsage(
        pipeline_id="p1", cpu_percent=1.0, memory_mb=1, **e
    ),
    "CheckResourceAvailability": lambda **e: CheckResourceAvailability(
        estimated_cpu_percent=1.0, estimated_memory_mb=1, **e
    ),
    "GetSystemStatus": GetSystemStatus,
    "GetPipelineInfo": lambda **e: GetPipelineInfo(pipeline_id="p1", **e),
    "ListPipelines": ListPipelines,
}

every_command = pytest.mark.parametrize("make", EVERY_COMMAND.values(), ids=EVERY_COMMAND.keys())


@every_command
def test_every_command_is_accepted_or_answered_with_a_valid_envelope(make: CommandMaker) -> None:
    command = make(command_id="c-1", reply_to="coordinator.replies", correlation_id="corr-1")

    outcome = when(command, registered("p1"))

    assert isinstance(outcome.decision, Accepted | Answered)


@every_command
@pytest.mark.parametrize(
    "reply_to",
    [
        "coordinator.events",
        "coordinator.commands",
        "other.replies",
        "Coordinator.replies",
        "coordinator.replies with space",
        "coordinator.replies/../events",
        "coordinator.replies." + "x" * 240,
        "",
    ],
)
def test_a_reply_topic_outside_the_prefix_is_forbidden(make: CommandMaker, reply_to: str) -> None:
    outcome = when(make(reply_to=reply_to), registered("p1"))

    refusal = assert_refused(outcome, ErrorCode.FORBIDDEN_REPLY_TOPIC, dead_letter=True)
    assert refusal.can_reply is False


@pytest.mark.parametrize(
    "reply_to", ["coordinator.replies", "coordinator.replies.ui-7f3a", "coordinator.replies_b"]
)
def test_any_legal_topic_under_the_reply_prefix_is_allowed(reply_to: str) -> None:
    outcome = when(GetSystemStatus(reply_to=reply_to), registered("p1"))

    assert isinstance(outcome.decision, Answered)


def test_the_reply_prefix_comes_from_the_context() -> None:
    team = context(reply_prefix="team-a.replies")

    allowed = when(GetSystemStatus(reply_to="team-a.replies.ui"), registered("p1"), team)
    forbidden = when(GetSystemStatus(reply_to="coordinator.replies"), registered("p1"), team)

    assert isinstance(allowed.decision, Answered)
    assert_refused(forbidden, ErrorCode.FORBIDDEN_REPLY_TOPIC, dead_letter=True)


def test_a_forbidden_reply_topic_is_refused_even_for_an_already_applied_command() -> None:
    # The original reply must not be re-sent to a topic the sender may not write to.
    state = registered("p1")
    first = ReportResourceUsage(pipeline_id="p1", cpu_percent=1.0, memory_mb=1, command_id="r1")
    state = when(first, state).after

    outcome = when(
        ReportResourceUsage(
            pipeline_id="p1", cpu_percent=1.0, memory_mb=1, command_id="r1", reply_to="evil"
        ),
        state,
    )

    assert_refused(outcome, ErrorCode.FORBIDDEN_REPLY_TOPIC, dead_letter=True)


@every_command
def test_a_command_id_of_128_characters_is_accepted(make: CommandMaker) -> None:
    outcome = when(make(command_id="c" * 128), registered("p1"))

    assert not isinstance(outcome.decision, Refused)


@every_command
@pytest.mark.parametrize(
    ("command_id", "problem"),
    [("c" * 129, "at most 128"), ("", "empty"), ("   ", "empty"), ("c\x00", "control")],
)
def test_an_invalid_command_id_is_refused(
    make: CommandMaker, command_id: str, problem: str
) -> None:
    outcome = when(make(command_id=command_id), registered("p1"))

    refusal = assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)
    assert "commandId" in refusal.error.message
    assert problem in refusal.error.message
    assert refusal.can_reply is True


@every_command
def test_a_correlation_id_longer_than_256_characters_is_refused(make: CommandMaker) -> None:
    outcome = when(make(correlation_id="k" * 257), registered("p1"))

    refusal = assert_refused(outcome, ErrorCode.INVALID_ARGUMENT, dead_letter=True)
    assert "correlationId" in refusal.error.message


@every_command
def test_the_correlation_id_defaults_to_the_command_id(make: CommandMaker) -> None:
    assert make(command_id="c-9").effective_correlation_id == "c-9"
    assert make(command_id="c-9", correlation_id="k-1").effective_correlation_id == "k-1"
    assert make().effective_correlation_id is None


@every_command
def test_a_command_id_already_applied_gets_the_original_outcome_whatever_the_type(
    make: CommandMaker,
) -> None:
    # Command ids are the sender's promise of uniqueness; reusing one replays the original.
    state = registered("p1")
    state = when(UnregisterPipeline(pipeline_id="p1", command_id="done"), state).after
    state = when(RegisterPipeline(pipeline_id="p1", name="Again"), state).after

    outcome = when(make(command_id="done"), state)

    assert isinstance(outcome.decision, AlreadyApplied)
    assert outcome.decision.original.command_type == "UnregisterPipeline"


def test_the_control_character_pattern_is_unicode_category_cc() -> None:
    import sys
    import unicodedata

    from coordinator.domain.validation import _CONTROL

    for code in range(sys.maxunicode + 1):
        char = chr(code)
        assert (_CONTROL.fullmatch(char) is not None) == (unicodedata.category(char) == "Cc"), code
