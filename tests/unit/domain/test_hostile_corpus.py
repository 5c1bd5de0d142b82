"""The hostile-command corpus through ``decode_command`` and ``decide`` alone (no broker).

The corpus entries run in order, each followed by a valid command, the way the integration test
sends them to a real worker; every entry the domain decides (``layer: domain``) must have the
outcome it documents. Size limits, reply-topic existence and the broker's own refusals are
checked by the batch-builder and integration runs of the same corpus.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest

from coordinator.domain.codec import DecodeError, decode_command
from coordinator.domain.commands import (
    REPLIES_FROM_CHANGE,
    Command,
    RegisterPipeline,
    UnregisterPipeline,
)
from coordinator.domain.decider import Accepted, AlreadyApplied, Answered, Decision, Refused, decide
from coordinator.domain.replies import ErrorCode, StateSummary
from coordinator.domain.state import CoordinatorState, evolve
from tests.corpus.hostile import (
    EXPECTS,
    STEADY,
    Entry,
    Topics,
    check_steady,
    expected_pipelines,
    load,
    outcome_counts,
    script,
)

from .support import T0, context

TOPICS = Topics.for_prefix("coordinator")
ENTRIES = load(TOPICS)
SENT = script(ENTRIES, TOPICS)


@dataclass(frozen=True)
class Outcome:
    decoded: Command | DecodeError
    decision: Decision | None
    original_reply: object = None
    """For a duplicate: the reply value the entry it repeats was given."""


@dataclass(frozen=True)
class DomainRun:
    outcomes: dict[str, Outcome]
    state: CoordinatorState


def expected_reply(
    command: Command, before: CoordinatorState, after: CoordinatorState
) -> dict[str, object] | None:
    """What a registration's or an unregistration's reply must say, read off the states around
    it (not from the ring of applied commands, which keeps the reply the decider produced)."""
    if isinstance(command, RegisterPipeline):
        pipeline = after.pipelines[command.pipeline_id]
    elif isinstance(command, UnregisterPipeline):
        pipeline = before.pipelines[command.pipeline_id]
    else:
        return None
    return {
        "seq": after.summary.seq,
        "pipeline": pipeline,
        "total_pipelines": len(after.pipelines),
        "count_by_status": Counter(info.status for info in after.pipelines.values()),
        "total_memory_mb": sum(info.memory_mb for info in after.pipelines.values()),
    }


def reply_facts(value: object) -> dict[str, object]:
    assert isinstance(value, StateSummary), value
    return {
        "seq": value.seq,
        "pipeline": value.pipeline,
        "total_pipelines": value.total_pipelines,
        "count_by_status": Counter({s: n for s, n in value.count_by_status.items() if n}),
        "total_memory_mb": value.total_memory_mb,
    }


@pytest.fixture(scope="module")
def run() -> DomainRun:
    """Every entry the domain decides, in order, evolving one state the worker's way."""
    state = CoordinatorState.empty()
    outcomes: dict[str, Outcome] = {}
    replies: dict[str, object] = {}
    now = T0
    for entry in SENT:
        if entry.layer != "domain":
            continue
        now += timedelta(milliseconds=7)
        decoded = decode_command(entry.value)
        if isinstance(decoded, DecodeError):
            outcomes[entry.name] = Outcome(decoded, None)
            continue
        decision = decide(decoded, state, context(now))
        original = None
        if isinstance(decision, Accepted):
            before = state
            for event in decision.events:
                state = evolve(state, event)
            replies[entry.name] = expected_reply(decoded, before, state)
        if isinstance(decision, AlreadyApplied) and entry.duplicate_of is not None:
            original = replies[entry.duplicate_of]
        outcomes[entry.name] = Outcome(decoded, decision, original)
    return DomainRun(outcomes, state)


def test_the_corpus_covers_every_outcome_and_every_error_code() -> None:
    counts = outcome_counts(ENTRIES)

    assert len(ENTRIES) >= 60, counts
    assert {entry.expect for entry in ENTRIES} == EXPECTS
    # REPLY_TOPIC_REJECTED needs a reply topic created to refuse replies: it has its own test,
    # tests/integration/test_bad_input.py::test_a_reply_topic_that_refuses_replies_...
    # UNREADABLE_RECORD needs a record batch the Kafka client cannot decode, which no JSON line
    # can be: tests/integration/test_compression.py writes such batches with the raw protocol.
    # TOO_MANY_GROUPS needs a thousand groups: tests/unit/domain/test_decide_groups.py.
    # TOO_MANY_RESERVATIONS needs a thousand reservations, and RESERVATION_EXPIRED a reservation
    # whose id the corpus cannot know and whose expiry a worker's Tick may come before:
    # tests/unit/domain/test_decide_reservations.py.
    own_tests = {
        ErrorCode.REPLY_TOPIC_REJECTED,
        ErrorCode.UNREADABLE_RECORD,
        ErrorCode.TOO_MANY_GROUPS,
        ErrorCode.TOO_MANY_RESERVATIONS,
        ErrorCode.RESERVATION_EXPIRED,
    }
    assert {entry.code for entry in ENTRIES if entry.expect in {"refused", "dead-letter"}} == {
        code.value for code in ErrorCode if code not in own_tests
    }


@pytest.mark.parametrize(
    "entry", [e for e in SENT if e.layer == "domain"], ids=lambda entry: entry.name
)
def test_each_entry_has_its_documented_outcome(run: DomainRun, entry: Entry) -> None:
    outcome = run.outcomes[entry.name]
    decoded, decision = outcome.decoded, outcome.decision

    if isinstance(decoded, DecodeError):
        assert entry.expect == "dead-letter", decoded.error
        assert decoded.error.code is entry.error_code, decoded.error
        # An error reply needs a reply topic that could be read from the envelope.
        assert (decoded.reply_to == TOPICS.reply) is (entry.reply == "error")
        return
    reply_to = decoded.reply_to
    match decision:
        case Accepted(events=events):
            assert entry.expect == "accepted", decision
            assert tuple(event.type for event in events) == entry.events
            assert {event.key for event in events} == {entry.pipeline}
            replies = decoded.type in REPLIES_FROM_CHANGE
            assert (entry.reply == "ok") is (replies and reply_to is not None)
        case Answered():
            assert entry.expect == "answered", decision
            assert (entry.reply == "ok") is (reply_to is not None)
        case Refused(error=error, dead_letter=dead_letter, can_reply=can_reply):
            assert entry.expect == ("dead-letter" if dead_letter else "refused"), error
            assert error.code is entry.error_code, error
            assert (entry.reply == "error") is (can_reply and reply_to is not None)
        case AlreadyApplied(original=original):
            assert entry.expect == "duplicate", decision
            if entry.duplicate_of is not None:
                assert outcome.original_reply is not None
                assert reply_facts(original.value) == outcome.original_reply
        case _:
            raise AssertionError(f"{entry.name}: {decision!r}")


def test_only_the_documented_changes_reach_the_state(run: DomainRun) -> None:
    state = run.state

    assert set(state.pipelines) == expected_pipelines(SENT)
    check_steady(state.pipelines.get(STEADY), len(ENTRIES))
    assert state.summary.seq == sum(len(entry.events) for entry in SENT)
