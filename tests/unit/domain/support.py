"""Given/when/then helpers for the domain tests.

``given`` builds a state the way the worker does (decide, then evolve with the emitted events);
``when`` decides one more command and returns the decision together with the state after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from coordinator.domain.commands import Command, RegisterPipeline
from coordinator.domain.decider import (
    DEFAULT_REPLY_PREFIX,
    Accepted,
    Context,
    Decision,
    Refused,
    decide,
)
from coordinator.domain.events import Event, PipelineRegistered
from coordinator.domain.model import ResourceLimits
from coordinator.domain.queries import DEFAULT_MAX_REPLY_BYTES
from coordinator.domain.replies import ErrorCode
from coordinator.domain.state import DEFAULT_APPLIED_CAPACITY, CoordinatorState, evolve, fold

T0 = datetime(2026, 11, 27, 3, 52, 48, 480000, tzinfo=UTC)
"""An instant with whole milliseconds, as the wire carries it."""


def context(
    now: datetime = T0,
    *,
    limits: ResourceLimits | None = None,
    reply_prefix: str = DEFAULT_REPLY_PREFIX,
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    stale_after: timedelta | None = None,
) -> Context:
    return Context(
        now=now,
        limits=limits if limits is not None else ResourceLimits(),
        reply_prefix=reply_prefix,
        max_reply_bytes=max_reply_bytes,
        stale_after=stale_after,
    )


def given(
    *commands: Command,
    state: CoordinatorState | None = None,
    now: datetime = T0,
    applied_capacity: int = DEFAULT_APPLIED_CAPACITY,
) -> CoordinatorState:
    """The state after each command is decided and its events evolved; each must be accepted."""
    current = state if state is not None else CoordinatorState.empty()
    for command in commands:
        decision = decide(command, current, context(now))
        assert isinstance(decision, Accepted), f"{command!r} was not accepted: {decision!r}"
        for event in decision.events:
            current = evolve(current, event, applied_capacity)
    return current


def register(pipeline_id: str, name: str | None = None, **envelope: str) -> RegisterPipeline:
    return RegisterPipeline(
        pipeline_id=pipeline_id, name=name or f"Pipeline {pipeline_id}", **envelope
    )


def registered(*pipeline_ids: str) -> CoordinatorState:
    return given(*(register(pipeline_id) for pipeline_id in pipeline_ids))


def many_registered(pipeline_ids: Iterable[str], at: datetime = T0) -> CoordinatorState:
    """A large registry, folded from its journal in linear time."""
    journal = (
        PipelineRegistered(
            seq=seq,
            command_id=None,
            pipeline_id=pipeline_id,
            name=f"Pipeline {pipeline_id}",
            timestamp=at,
        )
        for seq, pipeline_id in enumerate(pipeline_ids, start=1)
    )
    return fold(journal)


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    before: CoordinatorState
    after: CoordinatorState

    @property
    def events(self) -> tuple[Event, ...]:
        return self.decision.events if isinstance(self.decision, Accepted) else ()


def when(
    command: Command,
    state: CoordinatorState,
    ctx: Context | None = None,
    applied_capacity: int = DEFAULT_APPLIED_CAPACITY,
) -> Outcome:
    # Frozen models still hold mutable dicts: make sure deciding only reads them.
    untouched = state.to_json()
    decision = decide(command, state, ctx if ctx is not None else context())
    assert state.to_json() == untouched, "decide changed the state it was given"
    after = state
    if isinstance(decision, Accepted):
        for event in decision.events:
            after = evolve(after, event, applied_capacity)
    return Outcome(decision, state, after)


def assert_refused(outcome: Outcome, code: ErrorCode, *, dead_letter: bool) -> Refused:
    """A refusal with ``code``, routed as expected, that emitted nothing and changed nothing."""
    refusal = outcome.decision
    assert isinstance(refusal, Refused), f"expected a refusal, got {refusal!r}"
    assert refusal.error.code is code, refusal.error
    assert refusal.dead_letter is dead_letter
    assert outcome.events == ()
    assert outcome.after == outcome.before
    return refusal
