"""The committer's two halves: deciding a batch on the state another leaves, and answers alone.

A real ``StateTable``, the fake journal write of ``test_committer`` (``FakeWrite``, whose
``replies`` stands in for the writer's ``write_replies``).
"""

from __future__ import annotations

import asyncio
import json

from coordinator.domain.replies import Reply
from coordinator.kafka.writer import RetryBatch
from coordinator.store.table import StateTable
from coordinator.worker.committer import UNMARKED_MAX
from coordinator.worker.feed import CommandRecord
from tests.unit.worker.test_committer import REPLIES, FakeWrite, Harness, register, table

__all__ = ["table"]  # the fixture


def query(offset: int, document: dict[str, object]) -> CommandRecord:
    body = {"correlationId": f"q-{offset}", "replyTo": REPLIES, **document}
    return CommandRecord(
        offset=offset,
        key=b"global-coordinator",
        value=json.dumps(body).encode(),
        timestamp=1_700_000_000.0,
    )


def info(offset: int, pipeline_id: str = "p1") -> CommandRecord:
    return query(offset, {"type": "GetPipelineInfo", "pipelineId": pipeline_id})


def reply_of(value: bytes | None) -> Reply:
    return Reply.model_validate_json(value or b"")


def test_a_batch_is_decided_on_the_state_of_the_batch_before_it_uncommitted(
    table: StateTable,
) -> None:
    h = Harness(table, FakeWrite())

    async def run() -> None:
        first = await h.committer.prepare([register(0)])
        second = await h.committer.prepare([info(1)], after=first)
        # The registration is not in the table yet, but the second batch sees it.
        assert table.pipeline("p1") is None
        [answer] = second.result.records
        assert reply_of(answer.value).ok
        assert json.loads(answer.value or b"")["value"]["pipelineId"] == "p1"
        assert second.result.changes == []

    asyncio.run(run())


def test_answers_alone_go_out_without_a_transaction_or_progress(table: StateTable) -> None:
    h = Harness(table, FakeWrite())
    h.commit(register(0))

    result = h.commit(info(1), info(2))

    assert len(h.write.calls) == 1  # the registration's transaction only
    assert [len(records) for records in h.write.reply_calls] == [2]
    assert all(record.is_reply for record in h.write.reply_calls[0])
    assert result.next_offset == 3
    assert h.committer.unmarked == 2


def test_a_batch_with_a_change_or_a_dead_letter_is_a_transaction(table: StateTable) -> None:
    h = Harness(table, FakeWrite())
    undecodable = CommandRecord(offset=1, key=b"k", value=b"{not json", timestamp=0.0)

    h.commit(info(0))
    h.commit(undecodable)
    h.commit(register(2))

    assert len(h.write.reply_calls) == 1
    assert [next_offset for _w, _r, next_offset in h.write.calls] == [2, 3]
    assert h.committer.unmarked == 0


def test_answers_are_marked_done_by_a_transaction_at_least_every_unmarked_max(
    table: StateTable,
) -> None:
    h = Harness(table, FakeWrite())
    batch = [info(offset) for offset in range(UNMARKED_MAX // 2)]

    h.commit(*batch)
    h.commit(*[info(o + UNMARKED_MAX // 2) for o in range(UNMARKED_MAX // 2)])
    assert h.write.calls == []
    assert h.committer.unmarked == UNMARKED_MAX

    h.commit(info(UNMARKED_MAX))  # one more would leave more than UNMARKED_MAX unmarked

    [(_writer, records, next_offset)] = h.write.calls
    assert next_offset == UNMARKED_MAX + 1
    assert len(records) == 1 and records[0].is_reply
    assert h.committer.unmarked == 0


def test_answers_not_delivered_are_sent_again(table: StateTable) -> None:
    h = Harness(table, FakeWrite(RetryBatch("replies not delivered within 30 s")))

    h.commit(info(0))

    assert len(h.write.reply_calls) == 2
    assert len(h.sleeps) == 1


def test_a_reply_topic_refusing_answers_dead_letters_their_commands_in_a_transaction(
    table: StateTable,
) -> None:
    refused = RetryBatch("replies not delivered", {REPLIES: "Broker: Topic authorization failed"})
    h = Harness(table, FakeWrite(refused))

    h.commit(info(0))

    assert len(h.write.reply_calls) == 1
    [(_writer, records, next_offset)] = h.write.calls
    assert next_offset == 1
    assert [record.topic for record in records] == [h.committer._settings.topics.deadletter]


def test_a_batch_whose_transaction_aborted_is_marked_rebuilt(table: StateTable) -> None:
    h = Harness(table, FakeWrite(RetryBatch("aborted")))

    async def run() -> None:
        first = await h.committer.prepare([register(0)])
        await h.committer.finish(h.writer, first)
        assert first.rebuilt
        clean = await h.committer.prepare([register(1, "p2")])
        await h.committer.finish(h.writer, clean)
        assert not clean.rebuilt

    asyncio.run(run())
    assert table.pipeline("p2") is not None


def test_a_batch_of_nothing_to_answer_is_a_transaction(table: StateTable) -> None:
    h = Harness(table, FakeWrite())
    update = {
        "type": "UpdatePipelineStatus",
        "pipelineId": "nobody",
        "status": "running",
        "totalRecords": 1,
        "failedRecords": 0,
    }
    h.commit(CommandRecord(0, b"global-coordinator", json.dumps(update).encode(), 0.0))

    assert h.write.reply_calls == []
    [(_writer, records, next_offset)] = h.write.calls
    assert records == [] and next_offset == 1
    assert h.committer.unmarked == 0
