"""SetResourceLimits and ResetResourceLimits: runtime limits kept in the journal.

The limits in force are the journal's override, dimension by dimension, else the configuration's;
the configuration is never folded into the state, so a worker configured differently replays to
the same state and answers with the same limits once they are set.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given as for_all
from hypothesis import strategies as st

from coordinator.domain.commands import (
    CheckResourceAvailability,
    Command,
    GetSystemStatus,
    ReportResourceUsage,
    ResetResourceLimits,
    SetResourceLimits,
)
from coordinator.domain.decider import Accepted, AlreadyApplied, Answered, decide
from coordinator.domain.events import LIMITS_KEY, ResourceLimitsChanged, ResourceLimitsReset
from coordinator.domain.model import EffectiveLimits, LimitsOverride, ResourceLimits
from coordinator.domain.replies import ErrorCode, RuntimeLimits, SystemStatus
from coordinator.domain.state import CoordinatorState, change_for, evolve, fold

from .support import T0, assert_refused, context, given, register, when

CONFIGURED = ResourceLimits(max_cpu_percent=80.0, max_memory_mb=8000)


def status_of(state: CoordinatorState, configured: ResourceLimits = CONFIGURED) -> SystemStatus:
    decision = decide(GetSystemStatus(), state, context(limits=configured))
    assert isinstance(decision, Answered)
    assert isinstance(decision.value, SystemStatus)
    return decision.value


def test_without_an_override_the_configured_limits_are_in_force() -> None:
    assert status_of(given()).limits == EffectiveLimits(
        max_cpu_percent=80.0, max_memory_mb=8000, source="configuration", revision=0
    )


def test_setting_one_limit_keeps_the_other_from_the_configuration() -> None:
    outcome = when(SetResourceLimits(max_cpu_percent=50.0, reason="night shift"), given())

    assert isinstance(outcome.decision, Accepted)
    (event,) = outcome.events
    assert isinstance(event, ResourceLimitsChanged)
    assert (event.previous, event.revision, event.reason) == (None, 1, "night shift")
    assert event.limits == LimitsOverride(max_cpu_percent=50.0)
    assert event.key == LIMITS_KEY
    assert status_of(outcome.after).limits == EffectiveLimits(
        max_cpu_percent=50.0, max_memory_mb=8000, source="journal", revision=1
    )


def test_a_second_set_changes_only_what_it_names() -> None:
    state = given(SetResourceLimits(max_cpu_percent=50.0))

    outcome = when(SetResourceLimits(max_memory_mb=2000, expected_revision=1), state)

    (event,) = outcome.events
    assert isinstance(event, ResourceLimitsChanged)
    assert event.previous == LimitsOverride(max_cpu_percent=50.0)
    assert event.limits == LimitsOverride(max_cpu_percent=50.0, max_memory_mb=2000)
    assert status_of(outcome.after).limits.revision == 2


def test_reset_returns_to_the_configuration_and_counts_a_revision() -> None:
    state = given(SetResourceLimits(max_cpu_percent=50.0, max_memory_mb=100))

    outcome = when(ResetResourceLimits(expected_revision=1), state)

    (event,) = outcome.events
    assert isinstance(event, ResourceLimitsReset)
    assert event.previous == LimitsOverride(max_cpu_percent=50.0, max_memory_mb=100)
    assert status_of(outcome.after).limits == EffectiveLimits(
        max_cpu_percent=80.0, max_memory_mb=8000, source="configuration", revision=2
    )


@pytest.mark.parametrize(
    "command",
    [
        SetResourceLimits(max_cpu_percent=10.0, expected_revision=0),
        ResetResourceLimits(expected_revision=2),
    ],
    ids=type,
)
def test_a_stale_expected_revision_is_a_conflict(command: Command) -> None:
    state = given(SetResourceLimits(max_cpu_percent=50.0))

    refusal = assert_refused(when(command, state), ErrorCode.REVISION_CONFLICT, dead_letter=False)

    assert "is not the current revision 1" in refusal.error.message


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (SetResourceLimits(), "needs maxCpuPercent, maxMemoryMB or both"),
        (SetResourceLimits(max_cpu_percent=-1.0), "maxCpuPercent must be a finite number"),
        (SetResourceLimits(max_cpu_percent=math.nan), "maxCpuPercent must be a finite number"),
        (SetResourceLimits(max_memory_mb=-5), "maxMemoryMB must be between 0"),
        (SetResourceLimits(max_memory_mb=1, reason=" "), "reason must not be empty"),
        (ResetResourceLimits(reason="a\x00b"), "reason must not contain control characters"),
    ],
)
def test_invalid_limits_are_refused_and_dead_lettered(command: Command, message: str) -> None:
    refusal = assert_refused(when(command, given()), ErrorCode.INVALID_ARGUMENT, dead_letter=True)

    assert message in refusal.error.message


def test_a_limit_above_one_hundred_percent_is_allowed_for_many_pipelines() -> None:
    outcome = when(SetResourceLimits(max_cpu_percent=400.0), given())

    assert status_of(outcome.after).limits.max_cpu_percent == 400.0


def test_a_lowered_limit_touches_no_pipeline_and_shows_as_over_committed() -> None:
    state = given(
        register("p1"), ReportResourceUsage(pipeline_id="p1", cpu_percent=40.0, memory_mb=10)
    )

    outcome = when(SetResourceLimits(max_cpu_percent=30.0), state)

    assert outcome.after.pipelines == state.pipelines
    assert status_of(outcome.after).over_committed
    assert not status_of(state).over_committed
    check = decide(
        CheckResourceAvailability(estimated_cpu_percent=0.0, estimated_memory_mb=0),
        outcome.after,
        context(limits=CONFIGURED),
    )
    assert check == Answered(False)


def test_checks_use_the_limits_in_force() -> None:
    state = given(SetResourceLimits(max_memory_mb=100))
    fits = CheckResourceAvailability(estimated_cpu_percent=1.0, estimated_memory_mb=100)
    too_big = CheckResourceAvailability(estimated_cpu_percent=1.0, estimated_memory_mb=101)

    assert decide(fits, state, context(limits=CONFIGURED)) == Answered(True)
    assert decide(too_big, state, context(limits=CONFIGURED)) == Answered(False)


def test_the_reply_is_the_override_and_a_retry_gets_the_same_one() -> None:
    command = SetResourceLimits(max_cpu_percent=60.0, command_id="limits-1")
    outcome = when(command, given())
    (event,) = outcome.events

    change = change_for(given(), event)

    assert change.reply == RuntimeLimits(
        seq=1, limits=LimitsOverride(max_cpu_percent=60.0), revision=1
    )
    retried = decide(command, outcome.after, context())
    assert isinstance(retried, AlreadyApplied)
    assert retried.original.command_type == "SetResourceLimits"
    assert retried.original.value == change.reply


limit_commands = st.one_of(
    st.builds(
        SetResourceLimits,
        max_cpu_percent=st.none() | st.floats(0, 500, allow_nan=False),
        max_memory_mb=st.none() | st.integers(0, 10**6),
    ),
    st.builds(ResetResourceLimits),
)


@for_all(
    st.lists(limit_commands, max_size=8),
    st.floats(0, 500, allow_nan=False),
    st.integers(0, 10**6),
)
def test_replay_under_any_configuration_reproduces_the_state(
    commands: list[Command], cpu: float, memory: int
) -> None:
    configured = ResourceLimits(max_cpu_percent=cpu, max_memory_mb=memory)
    state, journal = CoordinatorState.empty(), []
    for command in commands:
        decision = decide(command, state, context(T0, limits=configured))
        if isinstance(decision, Accepted):
            journal.extend(decision.events)
            for event in decision.events:
                state = evolve(state, event)

    replayed = fold(journal)

    assert replayed == state
    assert replayed.summary.limits_revision == len(journal)
    in_force = status_of(replayed, ResourceLimits()).limits
    override = replayed.summary.limits
    if override is None:
        assert in_force.source == "configuration"
    else:
        assert in_force.source == "journal"
        if override.max_cpu_percent is not None:
            assert in_force.max_cpu_percent == override.max_cpu_percent
