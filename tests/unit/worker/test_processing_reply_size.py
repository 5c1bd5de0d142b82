"""No reply the batch builder writes is larger than ``COORDINATOR_MAX_REPLY_BYTES``.

Regression: a refusal echoes the sender's correlationId and commandId, which are checked for
length but still echoed; with ``COORDINATOR_MAX_COMMAND_BYTES`` raised to a few MiB, a 1.6 MB
correlationId made a reply over the broker's message size, and the worker retried the batch's
transaction forever ("Message size too large ... current transaction must be aborted"): the
stream stopped. Such a refusal is now dead-lettered without a reply, while answers, which are
sized to fit, are still sent whole.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coordinator.config import Settings
from coordinator.domain.replies import Reply
from coordinator.kafka.records import OutRecord, Record
from coordinator.store.table import StateTable
from coordinator.worker.processing import BatchBuilder, context_for, decode

SETTINGS = Settings(topic_prefix="sized", max_command_bytes=4 * 1024 * 1024, max_reply_bytes=4096)
REPLIES = SETTINGS.topics.replies
NOW = datetime(2026, 11, 27, tzinfo=UTC)


@pytest.fixture
def table() -> Iterator[StateTable]:
    with tempfile.TemporaryDirectory() as directory:
        opened = StateTable(Path(directory) / "state")
        try:
            yield opened
        finally:
            opened.close()


def run(table: StateTable, *documents: dict[str, object]) -> list[OutRecord]:
    builder = BatchBuilder(SETTINGS, table, context_for(SETTINGS, NOW), {REPLIES}.__contains__)
    for offset, document in enumerate(documents):
        incoming = Record(offset, b"global-coordinator", json.dumps(document).encode())
        builder.add(incoming, decode(incoming, SETTINGS.max_command_bytes))
    assert len(builder.result.outcomes) == len(documents)
    if builder.result.changes:
        table.apply(builder.result.changes, 0, len(documents) - 1)
    return builder.result.records


def replies(records: list[OutRecord]) -> list[Reply]:
    found = []
    for record in records:
        if record.topic == REPLIES:
            assert record.value is not None
            assert len(record.value) + len(record.key or b"") <= SETTINGS.max_reply_bytes
            found.append(Reply.model_validate_json(record.value))
    return found


def error_codes(records: list[OutRecord]) -> list[bytes | str | None]:
    return [dict(r.headers)["error-code"] for r in records if r.topic == SETTINGS.topics.deadletter]


def test_a_refusal_echoing_a_huge_correlation_id_is_dead_lettered_without_a_reply(
    table: StateTable,
) -> None:
    records = run(
        table, {"type": "GetSystemStatus", "replyTo": REPLIES, "correlationId": "c" * 10**6}
    )

    assert replies(records) == []
    assert error_codes(records) == [b"INVALID_ARGUMENT"]


def test_an_undecodable_command_with_a_huge_command_id_is_dead_lettered_without_a_reply(
    table: StateTable,
) -> None:
    records = run(table, {"type": "LaunchRocket", "replyTo": REPLIES, "commandId": "k" * 10**6})

    assert replies(records) == []
    assert error_codes(records) == [b"UNKNOWN_COMMAND_TYPE"]


def test_refusals_with_ids_of_ordinary_length_are_still_answered(table: StateTable) -> None:
    records = run(
        table,
        {"type": "LaunchRocket", "replyTo": REPLIES, "correlationId": "c1"},
        {"type": "GetSystemStatus", "replyTo": REPLIES, "correlationId": "c" * 257},
    )

    assert [(reply.correlation_id, reply.ok) for reply in replies(records)] == [
        ("c1", False),
        ("c" * 257, False),
    ]


def test_answers_sized_to_the_limit_are_sent_whole(table: StateTable) -> None:
    registrations = [
        {"type": "RegisterPipeline", "pipelineId": f"p{n:03}-{'x' * 200}", "name": "n" * 200}
        for n in range(60)
    ]
    run(table, *registrations)
    envelope = {"replyTo": REPLIES, "correlationId": "c" * 256, "commandId": "k" * 128}

    answered = replies(
        run(
            table,
            {"type": "ListPipelines", "limit": 1000, **envelope},
            {"type": "GetSystemStatus", **envelope} | {"correlationId": "s" * 256},
        )
    )

    page, status = answered
    assert page.ok and status.ok
    assert 0 < len(page.value.items) < 60  # type: ignore[union-attr]
    assert status.value.pipelines_omitted  # type: ignore[union-attr]
