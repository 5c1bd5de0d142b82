"""The batch committer: one batch in, one transaction out, with retries and their limits.

A real ``StateTable`` (in ``tmp_path``), a fake ``write`` that plays the journal writer's
outcomes in order, an instant ``sleep`` and an ``exit_process`` that raises instead of exiting.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

import pytest

from coordinator.config import Settings
from coordinator.domain.replies import Reply
from coordinator.errors import FencedError, WriterBrokenError
from coordinator.kafka.records import OutRecord
from coordinator.kafka.writer import JournalWriter, RetryBatch
from coordinator.store.table import StateTable
from coordinator.worker.committer import (
    EXIT_JOURNAL_FAILURE,
    MAX_REJECTED_ATTEMPTS,
    BatchCommitter,
)
from coordinator.worker.feed import CommandRecord, FeedItem, Unreadable
from coordinator.worker.processing import BatchResult
from coordinator.worker.replytopics import ReplyTopics

SETTINGS = Settings(topic_prefix="committest")
TOPICS = SETTINGS.topics
REPLIES = TOPICS.replies
EVENT_OFFSET = 41
"""The events-topic offset the fake writer reports for the last event of a transaction."""


class ProcessExit(Exception):  # noqa: N818 - stands in for the process ending
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class FakeWrite:
    """The journal write: plays ``outcomes`` (exceptions) in order, then succeeds.

    ``replies`` stands in for the writer's ``write_replies`` (answers sent without a
    transaction); both play the same ``outcomes``.
    """

    def __init__(self, *outcomes: BaseException) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[JournalWriter, list[OutRecord], int | None]] = []
        self.reply_calls: list[list[OutRecord]] = []

    async def replies(self, writer: JournalWriter, records: Sequence[OutRecord]) -> None:
        self.reply_calls.append(list(records))
        if self.outcomes:
            raise self.outcomes.pop(0)

    async def __call__(
        self, writer: JournalWriter, records: Sequence[OutRecord], next_offset: int | None
    ) -> int | None:
        self.calls.append((writer, list(records), next_offset))
        if self.outcomes:
            raise self.outcomes.pop(0)
        return EVENT_OFFSET if any(r.is_event for r in records) else None


class Listing:
    def __init__(self, topics: set[str], failures: int = 0) -> None:
        self.topics = topics
        self.failures = failures
        self.calls = 0

    def __call__(self) -> set[str]:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("no broker reachable")
        return set(self.topics)


class Harness:
    def __init__(self, table: StateTable, write: FakeWrite, listing: Listing | None = None):
        self.table = table
        self.write = write
        self.listing = listing or Listing({REPLIES})
        self.sleeps: list[float] = []
        self.exits: list[int] = []
        self.writer = JournalWriter(SETTINGS, "committer-test")  # never started: never used
        self.committer = BatchCommitter(
            SETTINGS,
            table,
            ReplyTopics(self.listing, 0.0),
            write=write,
            write_replies=write.replies,
            exit_process=self.exit,
            sleep=self.sleep,
        )

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def exit(self, code: int) -> NoReturn:
        self.exits.append(code)
        raise ProcessExit(code)

    def commit(self, *items: FeedItem) -> BatchResult:
        return asyncio.run(self.committer.commit(self.writer, list(items)))


@pytest.fixture
def table(tmp_path: Path) -> Iterator[StateTable]:
    opened = StateTable(tmp_path / "state")
    try:
        yield opened
    finally:
        opened.close()


def register(offset: int, pipeline_id: str = "p1", reply_to: str | None = REPLIES) -> CommandRecord:
    document: dict[str, object] = {
        "type": "RegisterPipeline",
        "pipelineId": pipeline_id,
        "name": "Pipeline One",
        "correlationId": f"c-{offset}",
    }
    if reply_to is not None:
        document["replyTo"] = reply_to
    return CommandRecord(
        offset=offset,
        key=b"global-coordinator",
        value=json.dumps(document).encode(),
        timestamp=1_700_000_000.0,
    )


def topics_of(records: list[OutRecord]) -> list[str]:
    return [record.topic for record in records]


def dead_letter_headers(records: list[OutRecord]) -> list[dict[str, object]]:
    return [dict(r.headers) for r in records if r.topic == TOPICS.deadletter]


def test_a_registration_is_committed_with_its_event_reply_and_progress(table: StateTable) -> None:
    h = Harness(table, FakeWrite())

    result = h.commit(register(7))

    assert len(h.write.calls) == 1
    writer, records, next_offset = h.write.calls[0]
    assert writer is h.writer
    assert next_offset == 8
    assert topics_of(records) == [TOPICS.events, REPLIES]
    assert records[0].is_event
    assert dict(records[0].headers)["command-offset"] == b"7"
    reply = Reply.model_validate_json(records[1].value or b"")
    assert reply.ok
    assert reply.correlation_id == "c-7"
    assert reply.command_type == "RegisterPipeline"
    assert result.next_offset == 8
    assert result.records == records

    info = table.pipeline("p1")
    assert info is not None
    assert info.name == "Pipeline One"
    assert table.meta.events_offset == EVENT_OFFSET
    assert table.meta.command_offset == 7
    assert h.sleeps == []
    assert h.exits == []


def test_an_aborted_transaction_is_retried_until_it_commits(table: StateTable) -> None:
    h = Harness(table, FakeWrite(RetryBatch("aborted"), RetryBatch("aborted again")))

    result = h.commit(register(3))

    assert len(h.write.calls) == 3
    # The same batch each time.
    assert [topics_of(records) for _w, records, _n in h.write.calls] == [
        [TOPICS.events, REPLIES]
    ] * 3
    assert [n for _w, _r, n in h.write.calls] == [4, 4, 4]
    assert len(h.sleeps) == 2
    assert all(s > 0 for s in h.sleeps)
    assert result.next_offset == 4
    assert table.pipeline("p1") is not None
    assert h.exits == []


def test_a_reply_topic_that_refuses_is_left_out_and_its_command_dead_lettered(
    table: StateTable,
) -> None:
    refused = RetryBatch("aborted", {REPLIES: "Broker: Message size too large"})
    h = Harness(table, FakeWrite(refused))

    result = h.commit(register(5))

    assert len(h.write.calls) == 2
    assert topics_of(h.write.calls[0][1]) == [TOPICS.events, REPLIES]
    _writer, records, next_offset = h.write.calls[1]
    assert REPLIES not in topics_of(records)
    assert topics_of(records) == [TOPICS.deadletter]
    (headers,) = dead_letter_headers(records)
    assert headers["error-code"] == b"REPLY_TOPIC_REJECTED"
    assert headers["source-offset"] == b"5"
    assert b"Message size too large" in headers["error-message"]  # type: ignore[operator]
    assert next_offset == 6
    assert result.next_offset == 6
    # Dead-lettered, not applied: no event was written.
    assert table.pipeline("p1") is None
    assert h.sleeps == []  # nothing to wait for: the rebuilt batch is tried at once
    assert h.exits == []


def test_a_non_reply_topic_refusing_for_good_ends_the_process(table: StateTable) -> None:
    rejections = [
        RetryBatch("aborted", {TOPICS.events: "Broker: Policy violation"})
        for _ in range(MAX_REJECTED_ATTEMPTS + 3)
    ]
    h = Harness(table, FakeWrite(*rejections))

    with pytest.raises(ProcessExit):
        h.commit(register(2))

    assert h.exits == [EXIT_JOURNAL_FAILURE]
    assert EXIT_JOURNAL_FAILURE == 70
    assert len(h.write.calls) == MAX_REJECTED_ATTEMPTS
    # The events stay in every attempt: only reply topics can be left out.
    assert all(TOPICS.events in topics_of(records) for _w, records, _n in h.write.calls)
    assert table.pipeline("p1") is None
    assert table.meta.events_offset == -1


@pytest.mark.parametrize(
    "error",
    [FencedError("another worker took over"), WriterBrokenError("producer failed fatally")],
    ids=["fenced", "broken"],
)
def test_fencing_and_a_broken_writer_go_to_the_caller_and_leave_the_table(
    table: StateTable, error: Exception
) -> None:
    h = Harness(table, FakeWrite(error))
    before = table.meta

    with pytest.raises(type(error)):
        h.commit(register(9))

    assert len(h.write.calls) == 1
    assert table.pipeline("p1") is None
    assert table.meta == before
    assert h.exits == []
    assert h.sleeps == []


def test_an_unreadable_record_becomes_a_dead_letter(table: StateTable) -> None:
    h = Harness(table, FakeWrite())
    unreadable = Unreadable(12, "_BAD_COMPRESSION", "Local: Decompression failed", 1.0)

    result = h.commit(unreadable, register(13))

    _writer, records, next_offset = h.write.calls[0]
    assert next_offset == 14
    assert topics_of(records) == [TOPICS.deadletter, TOPICS.events, REPLIES]
    (headers,) = dead_letter_headers(records)
    assert headers["error-code"] == b"UNREADABLE_RECORD"
    assert headers["source-offset"] == b"12"
    assert headers["source-topic"] == TOPICS.commands.encode()
    assert b"_BAD_COMPRESSION" in headers["error-message"]  # type: ignore[operator]
    assert records[0].value is None
    assert result.outcomes[0].dead_lettered
    assert table.pipeline("p1") is not None  # the readable command after it is applied


def test_an_unreadable_record_alone_lists_no_reply_topics(table: StateTable) -> None:
    h = Harness(table, FakeWrite())

    h.commit(Unreadable(0, "_BAD_MSG", "Local: Bad message format"))

    assert h.listing.calls == 0
    assert topics_of(h.write.calls[0][1]) == [TOPICS.deadletter]
    assert h.write.calls[0][2] == 1


def test_listing_reply_topics_failing_is_retried_after_a_sleep(table: StateTable) -> None:
    listing = Listing({REPLIES}, failures=1)
    h = Harness(table, FakeWrite(), listing)

    result = h.commit(register(0))

    assert listing.calls == 2
    assert len(h.sleeps) == 1
    assert h.sleeps[0] > 0
    assert len(h.write.calls) == 1
    assert REPLIES in topics_of(h.write.calls[0][1])  # the topic was found on the retry
    assert result.next_offset == 1
    assert table.pipeline("p1") is not None


def test_a_missing_reply_topic_dead_letters_the_command(table: StateTable) -> None:
    h = Harness(table, FakeWrite(), Listing(set()))

    h.commit(register(4))

    records = h.write.calls[0][1]
    assert topics_of(records) == [TOPICS.deadletter]
    assert dead_letter_headers(records)[0]["error-code"] == b"REPLY_TOPIC_NOT_FOUND"
    assert table.pipeline("p1") is None
