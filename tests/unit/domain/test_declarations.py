"""Every command type declares what it is, completely, and everything derived agrees with it."""

from __future__ import annotations

import typing

import pytest

from coordinator.domain.commands import (
    CAUSED_BY,
    COMMAND_TYPES,
    FIRE_AND_FORGET,
    REPLIES_FROM_CHANGE,
    REPLIES_WITH_SUMMARY,
    SUMMARY_EVENTS,
    Command,
    CommandModel,
    Declaration,
    SuccessReply,
    type_name,
)
from coordinator.domain.events import EVENT_TYPES, Event


def union_members(annotated: object) -> set[type]:
    (union, *_) = typing.get_args(annotated)
    return set(typing.get_args(union))


def test_the_command_union_and_the_list_of_types_are_the_same() -> None:
    assert union_members(Command) == set(COMMAND_TYPES)
    assert union_members(Event) == set(EVENT_TYPES)


@pytest.mark.parametrize("command", COMMAND_TYPES, ids=type_name)
def test_every_command_type_declares_itself_completely(command: type[CommandModel]) -> None:
    declared = command.__dict__.get("declared")

    assert isinstance(declared, Declaration), f"{command.__name__} has no declaration of its own"
    assert declared.purpose.strip().endswith(".")
    assert set(declared.emits) <= set(EVENT_TYPES)
    if declared.changes_state:
        # A state-changing command's reply is remembered for retries: the summary, what the
        # change made, null once applied, or none.
        assert declared.replies in (
            SuccessReply.SUMMARY,
            SuccessReply.RESULT,
            SuccessReply.ACCEPTED,
            SuccessReply.NOTHING,
        )
        if declared.replies is SuccessReply.RESULT:
            assert declared.answer, "a command replying with its result says what that is"
    else:
        assert declared.replies is SuccessReply.VALUE
        assert declared.answer, "a query says what its reply's value is"


def test_every_event_type_is_caused_by_exactly_one_command_type() -> None:
    causes = [
        (type_name(event), type_name(command))
        for command in COMMAND_TYPES
        for event in command.declared.emits
    ]

    assert sorted(event for event, _ in causes) == sorted(map(type_name, EVENT_TYPES))
    assert dict(causes) == CAUSED_BY


def test_what_is_derived_from_the_declarations() -> None:
    # The design document's commands, as they have always behaved.
    assert {"RegisterPipeline", "UnregisterPipeline"} <= REPLIES_WITH_SUMMARY
    assert {"PipelineRegistered", "PipelineUnregistered"} <= SUMMARY_EVENTS
    assert {"updatepipelinestatus", "reportresourceusage"} <= FIRE_AND_FORGET
    queries = {type_name(c) for c in COMMAND_TYPES if not c.declared.changes_state}
    assert queries >= {"GetSystemStatus", "GetPipelineInfo", "ListPipelines"}
    assert not queries & (REPLIES_WITH_SUMMARY | {t.lower() for t in FIRE_AND_FORGET})
    assert {CAUSED_BY[event] for event in SUMMARY_EVENTS} == REPLIES_WITH_SUMMARY
    assert REPLIES_WITH_SUMMARY < REPLIES_FROM_CHANGE
    assert {"SetResourceLimits", "ResetResourceLimits"} <= REPLIES_FROM_CHANGE - queries


@pytest.mark.parametrize("command", COMMAND_TYPES, ids=type_name)
def test_the_description_says_what_the_reply_is(command: type[CommandModel]) -> None:
    description = command.declared.description

    assert description.startswith(command.declared.purpose)
    match command.declared.replies:
        case SuccessReply.SUMMARY:
            assert "Replies with the state summary" in description
        case SuccessReply.VALUE | SuccessReply.RESULT:
            assert f"Replies with {command.declared.answer}" in description
        case SuccessReply.NOTHING:
            assert "Fire-and-forget" in description
