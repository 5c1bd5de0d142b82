"""The worker's ``BatchBuilder`` over random batches of raw records: it never raises, gives every
record exactly one outcome, dead-letters every undecodable one with its reason in headers, writes
replies only to existing topics under the reply prefix, and its events fold to the table's state.

Batches mix random bytes, random JSON, tombstones, oversized records, valid commands and
mutated ones, with reply topics that exist, do not exist, or are forbidden. The table is a real
RocksDB ``StateTable`` in a temporary directory, updated after each batch as the worker does.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event as note_kind
from hypothesis import given
from hypothesis import strategies as st

from coordinator.config import Settings
from coordinator.domain.codec import DecodeError, decode_event
from coordinator.domain.commands import REPLIES_FROM_CHANGE, RequestPreemption
from coordinator.domain.decider import Accepted, AlreadyApplied, Answered, Refused
from coordinator.domain.events import EVENT_TAG, Event
from coordinator.domain.replies import ErrorCode, Reply
from coordinator.domain.state import fold
from coordinator.domain.validation import reply_topic_problem
from coordinator.kafka.records import COMMAND_OFFSET_HEADER, OutRecord, Record
from coordinator.store.table import StateTable
from coordinator.worker.processing import (
    BatchBuilder,
    Outcome,
    context_for,
    decode,
)

from .budget import fuzz
from .strategies import REPLY_PREFIX, encode_document, raw_inputs, reply_topics, sane_documents

MAX_COMMAND_BYTES = 4096
SETTINGS = Settings(max_command_bytes=MAX_COMMAND_BYTES, topic_prefix="coordinator")
TOPICS = SETTINGS.topics
assert TOPICS.replies == REPLY_PREFIX
REPLYING_TYPES = REPLIES_FROM_CHANGE
"""The state-changing types that reply when accepted (from their declarations)."""
DEAD_LETTER_HEADERS = {
    "error-code",
    "error-message",
    "source-topic",
    "source-partition",
    "source-offset",
}


def reply_topic_exists(topic: str) -> bool:
    """Some reply topics exist, some do not (deterministic, so that replays agree)."""
    return topic == REPLY_PREFIX or len(topic) % 2 == 0


@st.composite
def sane_with_reply(draw: st.DrawFn) -> bytes:
    document: dict[str, Any] = draw(sane_documents())
    if draw(st.booleans()):
        document["replyTo"] = draw(reply_topics)
        document["correlationId"] = draw(st.sampled_from(["c1", "c2", "c3"]))
    return encode_document(document)


values = st.one_of(
    raw_inputs,
    sane_with_reply(),
    sane_with_reply(),
    st.none(),
    # Around the size limit: at it still read, one byte over dead-lettered.
    st.integers(min_value=MAX_COMMAND_BYTES - 2, max_value=MAX_COMMAND_BYTES + 2).map(
        b'{"type":"GetSystemStatus"}'.ljust
    ),
)
keys = st.sampled_from([b"global-coordinator", None, b"", b"\xff"])
batches = st.lists(
    st.lists(st.tuples(keys, values), min_size=1, max_size=12), min_size=1, max_size=4
)


@dataclass
class Written:
    """The records one input added to the batch, by kind."""

    events: list[OutRecord]
    replies: list[OutRecord]
    dead_letters: list[OutRecord]


def split(records: list[OutRecord]) -> Written:
    written = Written([], [], [])
    for record in records:
        if record.topic == TOPICS.events:
            written.events.append(record)
        elif record.topic == TOPICS.deadletter:
            written.dead_letters.append(record)
        else:
            written.replies.append(record)
    return written


def check_dead_letter(record: OutRecord, incoming: Record, code: ErrorCode) -> None:
    headers = dict(record.headers)
    assert DEAD_LETTER_HEADERS <= set(headers) <= DEAD_LETTER_HEADERS | {"command-type"}
    assert headers["error-code"] == code.value.encode()
    assert headers["source-offset"] == str(incoming.offset).encode()
    assert headers["source-topic"] == TOPICS.commands.encode()
    error_message = headers["error-message"]
    assert isinstance(error_message, bytes) and 0 < len(error_message) <= 4096
    assert record.key == incoming.key
    assert record.value == incoming.value


def check_reply(record: OutRecord, ok: bool, code: ErrorCode | None = None) -> Reply:
    assert reply_topic_problem(record.topic, REPLY_PREFIX) is None
    assert reply_topic_exists(record.topic)
    assert record.value is not None
    assert len(record.value) + len(record.key or b"") <= SETTINGS.max_reply_bytes
    reply = Reply.model_validate_json(record.value)
    assert reply.ok is ok
    if code is not None:
        assert reply.error is not None and reply.error.code is code
    expected_key = reply.correlation_id.encode() if reply.correlation_id is not None else None
    assert record.key == expected_key
    return reply


def check_outcome(
    incoming: Record, decoded: object, outcome: Outcome, written: Written
) -> list[Event]:
    """The records of one input are what its outcome says they must be."""
    assert outcome.offset == incoming.offset
    assert len(written.dead_letters) <= 1 and len(written.replies) <= 1
    assert bool(written.dead_letters) is outcome.dead_lettered
    if isinstance(decoded, DecodeError):
        assert outcome.error == decoded.error and outcome.command is None
        check_dead_letter(written.dead_letters[0], incoming, decoded.error.code)
        replies_allowed = decoded.reply_to is not None and (
            reply_topic_problem(decoded.reply_to, REPLY_PREFIX) is None
            and reply_topic_exists(decoded.reply_to)
        )
        assert bool(written.replies) is replies_allowed
        for record in written.replies:
            check_reply(record, ok=False, code=decoded.error.code)
        assert not written.events
        return []

    reply_to = outcome.command.reply_to if outcome.command is not None else None
    decision = outcome.decision
    events: list[Event] = []
    match decision:
        case None:
            # Checked before deciding: the reply topic is legal but does not exist.
            assert outcome.error is not None
            assert outcome.error.code is ErrorCode.REPLY_TOPIC_NOT_FOUND
            assert reply_to is not None and not reply_topic_exists(reply_to)
            check_dead_letter(written.dead_letters[0], incoming, outcome.error.code)
            assert not written.replies and not written.events
        case Accepted():
            assert len(written.events) == len(decision.events)
            # Only a Tick may change nothing (no reservation was due); a preemption request has
            # one event per pipeline, every other command exactly one.
            if outcome.command_type == "Tick":
                pass
            elif outcome.command_type == "RequestPreemption":
                assert isinstance(outcome.command, RequestPreemption)
                assert len(decision.events) == len(outcome.command.pipeline_ids)
            else:
                assert len(decision.events) == 1
            for record, event in zip(written.events, decision.events, strict=True):
                assert record.value is not None
                assert decode_event(record.value) == event
                assert record.key == event.key.encode()
                headers = dict(record.headers)
                assert headers["tag"] == EVENT_TAG.encode()
                assert headers[COMMAND_OFFSET_HEADER] == str(incoming.offset).encode()
                events.append(event)
            wants_reply = reply_to is not None and outcome.command_type in REPLYING_TYPES
            assert bool(written.replies) is wants_reply
            for record in written.replies:
                check_reply(record, ok=True)
        case Answered():
            assert bool(written.replies) is (reply_to is not None)
            for record in written.replies:
                check_reply(record, ok=True)
        case Refused(error=error):
            assert outcome.error == error
            if written.dead_letters:
                check_dead_letter(written.dead_letters[0], incoming, error.code)
            assert bool(written.replies) is (decision.can_reply and reply_to is not None)
            for record in written.replies:
                check_reply(record, ok=False, code=error.code)
        case AlreadyApplied(original=original):
            wants_reply = reply_to is not None and original.command_type in REPLYING_TYPES
            assert bool(written.replies) is wants_reply
            for record in written.replies:
                assert check_reply(record, ok=True).value == original.value
        case _:
            raise AssertionError(f"unexpected decision {decision!r}")
    if not isinstance(decision, Accepted):
        assert not written.events
    return events


@pytest.fixture(scope="module")
def table() -> Iterator[StateTable]:
    """One RocksDB table for all examples (opening one costs more than an example), cleared by
    each example before use."""
    with tempfile.TemporaryDirectory() as directory:
        opened = StateTable(Path(directory) / "state")
        try:
            yield opened
        finally:
            opened.close()


@fuzz(100)
@given(batches=batches, step=st.integers(min_value=-3_000, max_value=120_000))
def test_every_record_gets_exactly_one_outcome_and_the_journal_folds_to_the_table(
    table: StateTable, batches: list[list[tuple[bytes | None, bytes | None]]], step: int
) -> None:
    table.clear()
    journal: list[Event] = []
    offset = 0
    now = datetime(2026, 11, 27, tzinfo=UTC)
    for batch in batches:
        now += timedelta(milliseconds=step)
        start = offset
        builder = BatchBuilder(SETTINGS, table, context_for(SETTINGS, now), reply_topic_exists)
        for key, value in batch:
            incoming = Record(offset, key, value)
            decoded = decode(incoming, MAX_COMMAND_BYTES)
            if value is not None and len(value) > MAX_COMMAND_BYTES:
                assert isinstance(decoded, DecodeError)
                assert decoded.error.code is ErrorCode.COMMAND_TOO_LARGE
            before = len(builder.result.records)
            builder.add(incoming, decoded)
            # Exactly one outcome per record, in order.
            assert len(builder.result.outcomes) == offset + 1 - start
            outcome = builder.result.outcomes[-1]
            written = split(builder.result.records[before:])
            journal += check_outcome(incoming, decoded, outcome, written)
            note_kind(outcome.error.code.value if outcome.error else "no error")
            offset += 1
        result = builder.result
        assert [o.offset for o in result.outcomes] == list(range(start, offset))
        assert result.next_offset == offset
        assert len(result.changes) == sum(len(o.events) for o in result.outcomes)
        if result.changes:
            table.apply(result.changes, len(journal) - 1, result.last_event_command_offset)

    assert [event.seq for event in journal] == list(range(1, len(journal) + 1))
    expected = fold(journal, applied_capacity=SETTINGS.applied_capacity)
    assert table.summary == expected.summary
    assert {p.pipeline_id: p for p in table.pipelines_from(None)} == expected.pipelines
    for command_id, applied in expected.applied_commands.items():
        assert table.applied(command_id) == applied
