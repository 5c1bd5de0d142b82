"""The hostile-command corpus through the worker's ``BatchBuilder`` (no broker).

The same run as the integration test, with everything but the Kafka I/O: each record is
decoded with the size limit, built into batches of varying size over a real RocksDB table, and
the events, replies and dead letters the batches would commit are checked against what every
entry documents (``tests.corpus.hostile.check_run``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import cycle
from pathlib import Path

import pytest

from coordinator.config import Settings
from coordinator.domain.codec import decode_event
from coordinator.kafka.records import COMMAND_OFFSET_HEADER, OutRecord, Record
from coordinator.store.table import StateTable
from coordinator.worker.processing import BatchBuilder, context_for
from coordinator.worker.processing import decode as decode_record
from tests.corpus.hostile import (
    STEADY,
    Observed,
    Topics,
    check_run,
    check_steady,
    expected_pipelines,
    load,
    script,
)

SETTINGS = Settings(topic_prefix="hostile")
TOPICS = Topics.for_prefix(SETTINGS.topic_prefix)
ENTRIES = load(TOPICS)
SENT = script(ENTRIES, TOPICS)
EXISTING_REPLY_TOPICS = {SETTINGS.topics.replies, TOPICS.reply}


@pytest.fixture
def table() -> Iterator[StateTable]:
    with tempfile.TemporaryDirectory() as directory:
        opened = StateTable(Path(directory) / "state")
        try:
            yield opened
        finally:
            opened.close()


def observe(records: list[OutRecord], observed: Observed) -> None:
    for record in records:
        headers = {name: value for name, value in record.headers if isinstance(value, bytes)}
        if record.topic == SETTINGS.topics.deadletter:
            offset = int(headers["source-offset"])
            observed.dead_letters.append((offset, record.key, record.value, headers))
        elif record.topic == SETTINGS.topics.events:
            assert record.value is not None
            event = decode_event(record.value)
            offset = int(headers[COMMAND_OFFSET_HEADER])
            observed.events.append((event.type, event.key, offset))
        else:
            assert record.topic == TOPICS.reply, record.topic
            assert record.value is not None
            observed.replies.append((record.key, record.value))


@pytest.mark.parametrize("batch_sizes", [(1,), (500,), (3, 1, 7, 2, 12)], ids=str)
def test_every_entry_has_its_documented_outcome_in_the_batch_builder(
    table: StateTable, batch_sizes: tuple[int, ...]
) -> None:
    produced = [entry for entry in SENT if entry.layer != "broker"]
    offsets = {entry.name: offset for offset, entry in enumerate(produced)}
    observed = Observed()
    now = datetime(2026, 11, 27, tzinfo=UTC)
    sizes = cycle(batch_sizes)
    start = 0
    while start < len(produced):
        batch = produced[start : start + next(sizes)]
        now += timedelta(milliseconds=50)
        builder = BatchBuilder(
            SETTINGS, table, context_for(SETTINGS, now), EXISTING_REPLY_TOPICS.__contains__
        )
        for offset, entry in enumerate(batch, start=start):
            incoming = Record(offset, entry.key, entry.value)
            builder.add(incoming, decode_record(incoming, SETTINGS.max_command_bytes))
        result = builder.result
        assert [outcome.offset for outcome in result.outcomes] == list(
            range(start, start + len(batch))
        )
        observe(result.records, observed)
        if result.changes:
            table.apply(result.changes, len(observed.events) - 1, result.last_event_command_offset)
        start += len(batch)

    check_run(SENT, offsets, observed)
    pipelines = {info.pipeline_id: info for info in table.pipelines_from(None)}
    assert set(pipelines) == expected_pipelines(SENT)
    check_steady(pipelines.get(STEADY), len(ENTRIES))
