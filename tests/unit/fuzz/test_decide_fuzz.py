"""``decide`` on any well-formed command against any state: it never raises, never changes the
state it reads, and every refusal carries a known code routed the documented way.

Commands are built from decoded documents (so their values are whatever a producer can send:
blank or control-character ids, NaN, negative or 2**63 counts, forbidden reply topics); states
are grown from random accepted commands, with odd ids, a few thousand records and resource reports.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import event as note_kind
from hypothesis import given
from hypothesis import strategies as st

from coordinator.domain.codec import DecodeError, decode_command
from coordinator.domain.commands import CAUSED_BY, Command, RegisterPipeline
from coordinator.domain.decider import Accepted, AlreadyApplied, Answered, Refused, decide
from coordinator.domain.replies import ErrorCode, Reply, error_reply, ok_reply
from coordinator.domain.state import CoordinatorState, evolve, fold
from tests.unit.domain.support import T0, context

from .budget import fuzz
from .strategies import (
    POOL_IDS,
    awkward_text,
    command_documents,
    encode_document,
    sane_documents,
)

DEAD_LETTERED = {ErrorCode.INVALID_ARGUMENT, ErrorCode.FORBIDDEN_REPLY_TOPIC}
ANSWERED_ONLY = {
    ErrorCode.PIPELINE_NOT_FOUND,
    ErrorCode.PIPELINE_ALREADY_REGISTERED,
    ErrorCode.REVISION_CONFLICT,
    ErrorCode.QUOTA_EXCEEDED,
    ErrorCode.GROUP_NOT_FOUND,
    ErrorCode.GROUP_ALREADY_EXISTS,
    ErrorCode.GROUP_CLOSED,
    ErrorCode.GROUP_NOT_EMPTY,
    ErrorCode.TOO_MANY_GROUPS,
    ErrorCode.RESERVATION_NOT_FOUND,
    ErrorCode.RESERVATION_EXPIRED,
    ErrorCode.TOO_MANY_RESERVATIONS,
    ErrorCode.PIPELINE_NOT_PREEMPTIBLE,
}
"""``decide`` refuses only with these codes; decoding, size and reply topics give the others."""

known_ids = st.one_of(st.sampled_from(["a", "b", "é", "e\u0301", "🚀", "\u200b"]), awkward_text)


@st.composite
def commands(draw: st.DrawFn, sane: bool = False) -> Command:
    """A command as decoded from a document of the right shape: one that follows the rules, or
    one whose values are anything a producer can send."""
    if sane or draw(st.booleans()):
        document = draw(sane_documents())
    else:
        document = draw(command_documents())
        if "pipelineId" in document and draw(st.booleans()):
            document["pipelineId"] = draw(known_ids)
    decoded = decode_command(encode_document(document))
    assert not isinstance(decoded, DecodeError), decoded
    return decoded


@st.composite
def states(draw: st.DrawFn) -> CoordinatorState:
    """A state grown the worker's way: some pipelines registered, then random valid commands."""
    registered = draw(st.lists(st.sampled_from(POOL_IDS), unique=True, max_size=len(POOL_IDS)))
    history: list[Command] = [
        RegisterPipeline(pipeline_id=pipeline_id, name="n") for pipeline_id in registered
    ]
    history += draw(st.lists(commands(sane=True), max_size=15))
    capacity = draw(st.sampled_from([2, 10_000]))
    state = CoordinatorState.empty()
    now = T0
    for command in history:
        now += timedelta(milliseconds=draw(st.integers(min_value=-5000, max_value=60_000)))
        decision = decide(command, state, context(now))
        if isinstance(decision, Accepted):
            for event in decision.events:
                state = evolve(state, event, capacity)
    return state


@fuzz(200)
@given(state=states(), command=commands(), step=st.integers(min_value=-(10**6), max_value=10**9))
def test_decide_never_raises_and_routes_every_refusal(
    state: CoordinatorState, command: Command, step: int
) -> None:
    untouched = state.to_json()
    ctx = context(T0 + timedelta(milliseconds=step))

    decision = decide(command, state, ctx)

    assert state.to_json() == untouched, "decide changed the state it read"
    code = decision.error.code.value if isinstance(decision, Refused) else ""
    note_kind(f"{type(decision).__name__} {code}".strip())
    note_kind(f"state of {state.summary.total_pipelines} pipelines, seq {state.summary.seq}")
    assert decision == decide(command, state, ctx)
    correlation = command.effective_correlation_id
    match decision:
        case Refused(error=error, dead_letter=dead_letter, can_reply=can_reply):
            assert error.code in DEAD_LETTERED | ANSWERED_ONLY, error
            assert dead_letter is (error.code in DEAD_LETTERED)
            assert can_reply is (error.code is not ErrorCode.FORBIDDEN_REPLY_TOPIC)
            assert error.message
            reply: Reply = error_reply(correlation, command.command_id, command.type, error)
            assert Reply.model_validate_json(reply.to_json()) == reply
        case Accepted(events=events):
            # One event, but for a Tick (one per reservation due, maybe none) and a preemption
            # request (one per pipeline): numbered on from the state's seq.
            assert len(events) == 1 or command.type in {"Tick", "RequestPreemption"}
            after = state
            for offset, event in enumerate(events, start=1):
                assert CAUSED_BY[event.type] == command.type
                assert event.seq == state.summary.seq + offset
                assert event.command_id == command.command_id
                after = evolve(after, event)
                assert after.summary.seq == event.seq
            assert after == fold(events, state)
        case Answered(value=value):
            reply = ok_reply(correlation, command.command_id, command.type, value)
            assert len(reply.to_json()) <= ctx.max_reply_bytes + 4096
        case AlreadyApplied(original=original):
            assert command.command_id is not None
            assert original.command_id == command.command_id
            assert state.applied(command.command_id) == original
