"""The command feed, driven one ``step`` at a time on the test thread with a fake consumer.

The fake consumer models one partition of the commands topic: a log of records, a position, a
pause flag, and optionally a range of offsets that librdkafka cannot hand over (reported at the
batch's base offset, whatever position is sought inside it, as librdkafka does). Rebalance
callbacks are called directly, as librdkafka would call them from within ``consume``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from coordinator.config import Settings
from coordinator.worker import feed as feed_module
from coordinator.worker.feed import CommandBatch, CommandFeed, CommandRecord, Unreadable

WAIT = 10.0
"""Longest wait for the reader thread (only the test of ``run`` starts one)."""


class FakeMessage:
    def __init__(
        self,
        topic: str | None,
        offset: int | None,
        value: bytes | None = None,
        *,
        key: bytes | None = b"global-coordinator",
        error: KafkaError | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        timestamp_ms: int = 1_700_000_000_000,
    ) -> None:
        self._topic = topic
        self._offset = offset
        self._value = value
        self._key = key
        self._error = error
        self._headers = headers
        self._timestamp_ms = timestamp_ms

    def error(self) -> KafkaError | None:
        return self._error

    def topic(self) -> str | None:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int | None:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (1, self._timestamp_ms)


def client_error(code: int, reason: str | None = None, *, fatal: bool = False) -> FakeMessage:
    """An error about the client (no topic, no offset), as librdkafka hands it to consume."""
    return FakeMessage(None, None, error=KafkaError(code, reason, fatal=fatal))


def offsets(tps: list[TopicPartition]) -> list[tuple[str, int, int]]:
    # TopicPartition equality ignores the offset.
    return [(tp.topic, tp.partition, tp.offset) for tp in tps]


class FakeConsumer:
    """One partition of ``topic``; records every call the feed makes."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.log: dict[int, FakeMessage] = {}
        self.bad: tuple[int, int] | None = None
        """``(base, end)``: offsets ``base <= o < end`` form a batch that cannot be read."""
        self.position = 0
        self.assigned = False
        self.paused = False
        self.injected: list[list[FakeMessage]] = []
        """Whole answers of ``consume`` to give first, one per call (client errors)."""
        self.pauses: list[list[tuple[str, int, int]]] = []
        self.resumes: list[list[tuple[str, int, int]]] = []
        self.seeks: list[tuple[str, int, int]] = []
        self.assigns: list[list[tuple[str, int, int]]] = []
        self.unassigns: list[list[tuple[str, int, int]]] = []
        self.consumes: list[tuple[int, float]] = []
        self.subscribed: list[str] | None = None
        self.callbacks: dict[str, Any] = {}
        self.closed = False
        self.on_consume: Callable[[FakeConsumer], list[FakeMessage] | None] | None = None
        self.sequence: list[str] = []
        """The assignment calls in order (consume, seek and close left out)."""

    def add(self, *offsets_: int) -> None:
        for offset in offsets_:
            self.log[offset] = FakeMessage(self.topic, offset, f"command-{offset}".encode())

    # -- ConsumerLike ---------------------------------------------------------------------

    def subscribe(self, topics: list[str], on_assign: Any, on_revoke: Any, on_lost: Any) -> None:
        self.subscribed = topics
        self.callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]:
        self.consumes.append((num_messages, timeout))
        if self.on_consume is not None:
            answer = self.on_consume(self)
            if answer is not None:
                return answer
        if self.injected:
            return self.injected.pop(0)
        if not self.assigned or self.paused:
            return []
        out: list[FakeMessage] = []
        while len(out) < num_messages:
            if self.bad is not None and self.bad[0] <= self.position < self.bad[1]:
                # librdkafka reports the bad batch at its base offset and does not move on;
                # a call may return the same error more than once.
                error = KafkaError(KafkaError._BAD_COMPRESSION, "Decompression failed")
                out.append(FakeMessage(self.topic, self.bad[0], error=error))
                continue
            if self.position not in self.log:
                break
            out.append(self.log[self.position])
            self.position += 1
        return out

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        self.sequence.append("incremental_assign")
        self.assigns.append(offsets(partitions))
        for tp in partitions:
            if tp.topic == self.topic and tp.partition == 0:
                self.assigned = True
                if tp.offset >= 0:
                    self.position = tp.offset

    def incremental_unassign(self, partitions: list[TopicPartition]) -> None:
        self.sequence.append("incremental_unassign")
        self.unassigns.append(offsets(partitions))
        for tp in partitions:
            if tp.topic == self.topic and tp.partition == 0:
                self.assigned = False

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.sequence.append("pause")
        self.pauses.append(offsets(partitions))
        if any(tp.topic == self.topic for tp in partitions):
            self.paused = True

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.sequence.append("resume")
        self.resumes.append(offsets(partitions))
        if any(tp.topic == self.topic for tp in partitions):
            self.paused = False

    def seek(self, partition: TopicPartition) -> None:
        self.seeks.append((partition.topic, partition.partition, partition.offset))
        self.position = partition.offset

    def close(self) -> None:
        self.closed = True


class FakeOwnership:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool | None]] = []
        self._lock = threading.Lock()

    def partition_assigned(self) -> None:
        with self._lock:
            self.calls.append(("assigned", None))

    def partition_revoked(self, lost: bool) -> None:
        with self._lock:
            self.calls.append(("revoked", lost))


class Harness:
    def __init__(self, batch_max: int = 500) -> None:
        self.settings = Settings(topic_prefix="feedtest", batch_max=batch_max)
        self.topic = self.settings.topics.commands
        self.batches: list[CommandBatch] = []
        self.ownership = FakeOwnership()
        self.consumer = FakeConsumer(self.topic)
        self.feed = CommandFeed(self.settings, self.batches.append, self.ownership)

    def partition(self, offset: int = -1001) -> TopicPartition:
        return TopicPartition(self.topic, 0, offset)

    def assign(self) -> None:
        self.feed._on_assign(self.consumer, [self.partition()])

    def start_reading(self, offset: int = 0) -> int:
        self.assign()
        return self.feed.read_from(offset)

    def step(self, times: int = 1) -> None:
        for _ in range(times):
            self.feed.step(self.consumer)

    def run_acking(self, times: int) -> None:
        """Step, marking every delivered batch done at once (an event loop that keeps up)."""
        for _ in range(times):
            delivered = len(self.batches)
            self.feed.step(self.consumer)
            if len(self.batches) > delivered:
                self.feed.batch_done()

    def delivered_offsets(self) -> list[list[int]]:
        return [[item.offset for item in batch.items] for batch in self.batches]


@pytest.fixture(autouse=True)
def no_handoff_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    # The reader's short wait for the outstanding batch is a timing detail, not needed here.
    monkeypatch.setattr(feed_module, "HANDOFF_SECONDS", 0.0)


# -- order and batching --------------------------------------------------------------------


def test_records_come_out_in_offset_order_split_at_batch_max() -> None:
    h = Harness(batch_max=3)
    h.consumer.add(*range(8))
    h.start_reading(0)

    h.run_acking(20)

    assert h.delivered_offsets() == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert all(len(batch.items) <= 3 for batch in h.batches)
    record = h.batches[0].items[0]
    assert isinstance(record, CommandRecord)
    assert record.value == b"command-0"
    assert record.key == b"global-coordinator"
    assert record.timestamp == pytest.approx(1_700_000_000.0)


def test_records_keep_their_headers() -> None:
    h = Harness()
    h.consumer.log[0] = FakeMessage(h.topic, 0, b"{}", headers=[("trace", b"t-1")])
    h.start_reading(0)

    h.run_acking(3)

    record = h.batches[0].items[0]
    assert isinstance(record, CommandRecord)
    assert record.headers == [("trace", b"t-1")]


def test_one_batch_outstanding_and_the_next_gathers_what_arrived_meanwhile() -> None:
    h = Harness(batch_max=10)
    h.consumer.add(0)
    h.start_reading(0)

    h.step(2)
    assert h.delivered_offsets() == [[0]]

    # Commands arrive while batch [0] is applied: gathered, not delivered.
    h.consumer.add(1, 2, 3)
    h.step(3)
    h.consumer.add(4, 5)
    h.step(3)
    assert h.delivered_offsets() == [[0]]

    h.feed.batch_done()
    h.step()
    # Group commit: everything gathered meanwhile is one batch.
    assert h.delivered_offsets() == [[0], [1, 2, 3, 4, 5]]

    h.step(3)
    assert len(h.batches) == 2  # still outstanding


def test_a_full_batch_waiting_briefly_takes_nothing_more_and_does_not_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A pause empties librdkafka's prefetch queue and costs about a second to recover from.
    monkeypatch.setattr(feed_module, "PAUSE_AFTER_SECONDS", 3600.0)
    h = Harness(batch_max=2)
    h.consumer.add(*range(8))
    h.start_reading(0)
    h.step(2)  # gathers [0, 1], delivers it
    pauses_before = len(h.consumer.pauses)  # the pause of the assignment
    h.step(2)  # gathers [2, 3]: batch_max records wait
    h.step(5)
    assert h.consumer.pauses[pauses_before:] == []
    assert not h.consumer.paused
    assert h.delivered_offsets() == [[0, 1]]
    assert [item.offset for item in h.feed._pending] == [2, 3]  # nothing more was taken

    h.feed.batch_done()
    h.run_acking(6)
    assert h.delivered_offsets() == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert h.consumer.pauses[pauses_before:] == []


def test_a_full_batch_waiting_long_pauses_the_partition_until_there_is_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(feed_module, "PAUSE_AFTER_SECONDS", 0.0)
    h = Harness(batch_max=2)
    h.consumer.add(*range(6))
    h.start_reading(0)
    mine = [(h.topic, 0, -1001)]

    h.step(2)  # gathers [0, 1], delivers it
    assert h.delivered_offsets() == [[0, 1]]
    pauses_before = len(h.consumer.pauses)  # the pause of the assignment

    h.step()  # gathers [2, 3]: batch_max records wait
    h.step()
    assert h.consumer.pauses[pauses_before:] == [mine]
    assert h.consumer.paused
    h.step(3)
    assert h.consumer.pauses[pauses_before:] == [mine]  # paused once, not at every turn
    assert h.delivered_offsets() == [[0, 1]]
    resumes_before = len(h.consumer.resumes)

    h.feed.batch_done()
    h.step()  # hands [2, 3] over
    assert h.delivered_offsets() == [[0, 1], [2, 3]]
    h.step()  # room again: resumed, and reading goes on
    assert h.consumer.resumes[resumes_before:] == [mine]
    assert not h.consumer.paused

    h.feed.batch_done()
    h.run_acking(4)
    assert h.delivered_offsets() == [[0, 1], [2, 3], [4, 5]]


# -- ownership ------------------------------------------------------------------------------


def test_an_assignment_pauses_the_partition_and_reports_ownership() -> None:
    h = Harness()
    h.consumer.add(*range(3))
    other = TopicPartition("someone.else", 0)

    h.feed._on_assign(h.consumer, [other, h.partition()])

    assert h.consumer.assigns == [[("someone.else", 0, -1001), (h.topic, 0, -1001)]]
    assert h.consumer.pauses == [[(h.topic, 0, -1001)]]
    assert h.ownership.calls == [("assigned", None)]
    assert h.feed.owns_partition

    # Nothing is delivered until the service says where to start.
    h.run_acking(5)
    assert h.batches == []


def test_read_from_reassigns_at_the_offset_and_batches_carry_its_generation() -> None:
    h = Harness()
    h.consumer.add(*range(10))
    h.assign()
    h.step(2)

    before = len(h.consumer.sequence)
    generation = h.feed.read_from(7)
    h.run_acking(3)

    assert h.consumer.unassigns[-1] == [(h.topic, 0, -1001)]
    assert h.consumer.assigns[-1] == [(h.topic, 0, 7)]
    # The pause outlives the re-assignment: lifted explicitly, and before the assignment (after
    # it, librdkafka's fetcher could miss the resume for a second).
    assert h.consumer.sequence[before:] == ["incremental_unassign", "resume", "incremental_assign"]
    assert h.delivered_offsets() == [[7, 8, 9]]
    assert [batch.generation for batch in h.batches] == [generation]

    # A later start (after a step-down) has a newer generation.
    h.feed.stop_reading()
    later = h.feed.read_from(8)
    assert later > generation
    h.run_acking(3)
    assert h.delivered_offsets() == [[7, 8, 9], [8, 9]]
    assert h.batches[-1].generation == later


def test_read_from_before_the_assignment_reads_nothing() -> None:
    h = Harness()
    h.consumer.add(0, 1)
    h.feed.read_from(0)

    h.run_acking(3)

    assert h.batches == []
    assert h.consumer.assigns == []


@pytest.mark.parametrize(("callback", "lost"), [("_on_revoke", False), ("_on_lost", True)])
def test_a_revocation_or_loss_reports_it_drops_what_was_gathered_and_stops_delivery(
    callback: str, lost: bool
) -> None:
    h = Harness(batch_max=10)
    h.consumer.add(0)
    h.start_reading(0)
    h.step(2)
    assert h.delivered_offsets() == [[0]]
    h.consumer.add(1, 2)
    h.step()  # [1, 2] gathered while [0] is outstanding

    getattr(h.feed, callback)(h.consumer, [h.partition()])

    assert h.ownership.calls == [("assigned", None), ("revoked", lost)]
    assert not h.feed.owns_partition
    assert h.consumer.unassigns[-1] == [(h.topic, 0, -1001)]
    h.feed.batch_done()
    h.consumer.add(3)
    h.run_acking(5)
    assert h.delivered_offsets() == [[0]]


def test_a_partition_of_another_topic_does_not_count() -> None:
    h = Harness()
    other = TopicPartition("someone.else", 0)

    h.feed._on_assign(h.consumer, [other])
    assert not h.feed.owns_partition
    assert h.consumer.assigns == [[("someone.else", 0, -1001)]]
    assert h.consumer.pauses == []

    h.assign()
    h.feed._on_revoke(h.consumer, [other])
    h.feed._on_lost(h.consumer, [other])
    assert h.feed.owns_partition
    assert h.ownership.calls == [("assigned", None)]


def test_stop_reading_drops_what_was_gathered_and_pauses() -> None:
    h = Harness(batch_max=10)
    h.consumer.add(0)
    h.start_reading(0)
    h.step(2)
    h.consumer.add(1, 2)
    h.step()  # gathered while [0] is outstanding
    pauses_before = len(h.consumer.pauses)

    h.feed.stop_reading()
    h.step()

    assert h.consumer.pauses[pauses_before:] == [[(h.topic, 0, -1001)]]
    assert h.consumer.paused
    h.feed.batch_done()
    h.consumer.add(3)
    h.run_acking(5)
    assert h.delivered_offsets() == [[0]]
    assert h.feed.owns_partition  # still the group's owner; only delivery stopped


def test_records_read_after_stop_reading_are_not_delivered_even_if_the_consumer_returns_them() -> (
    None
):
    h = Harness()
    h.start_reading(0)
    h.step()
    h.feed.stop_reading()
    h.step()
    # A fetch that was in flight when the partition was paused.
    h.consumer.injected.append([FakeMessage(h.topic, 0, b"late")])

    h.run_acking(3)

    assert h.batches == []


# -- unreadable records -----------------------------------------------------------------------


def test_an_unreadable_batch_is_stepped_past_one_offset_at_a_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness()
    h.consumer.bad = (10, 13)
    h.consumer.add(13, 14)
    h.start_reading(10)

    with caplog.at_level(logging.ERROR, logger="coordinator"):
        h.run_acking(20)

    assert h.consumer.seeks == [(h.topic, 0, 11), (h.topic, 0, 12), (h.topic, 0, 13)]
    items = [item for batch in h.batches for item in batch.items]
    assert [type(item).__name__ for item in items] == [
        "Unreadable",
        "Unreadable",
        "Unreadable",
        "CommandRecord",
        "CommandRecord",
    ]
    assert [item.offset for item in items] == [10, 11, 12, 13, 14]
    unreadable = items[0]
    assert isinstance(unreadable, Unreadable)
    assert unreadable.code == "_BAD_COMPRESSION"
    assert "Decompression failed" in unreadable.reason
    assert unreadable.timestamp == pytest.approx(1_700_000_000.0)
    skipped = [r for r in caplog.records if "Unreadable command records skipped" in r.getMessage()]
    assert len(skipped) == 1
    assert "fromOffset=10" in skipped[0].getMessage()


def test_a_second_unreadable_batch_is_reported_again() -> None:
    h = Harness()
    h.consumer.bad = (0, 1)
    h.consumer.add(1)
    h.start_reading(0)
    h.run_acking(6)
    h.consumer.bad = (2, 3)
    h.consumer.add(3)

    h.run_acking(6)

    items = [item for batch in h.batches for item in batch.items]
    assert [(type(item).__name__, item.offset) for item in items] == [
        ("Unreadable", 0),
        ("CommandRecord", 1),
        ("Unreadable", 2),
        ("CommandRecord", 3),
    ]


# -- client errors ----------------------------------------------------------------------------


def test_client_state_errors_are_logged_once_per_distinct_error_and_not_delivered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness()
    h.start_reading(0)
    h.step()
    transport = client_error(KafkaError._TRANSPORT, "broker down")
    down = client_error(KafkaError._ALL_BROKERS_DOWN, "all down")
    # A record error code without a topic is about the client, not a record.
    bad_msg = client_error(KafkaError._BAD_MSG, "garbled response")
    h.consumer.injected += [[transport], [transport, transport], [down], [down], [bad_msg]]

    with caplog.at_level(logging.WARNING, logger="coordinator"):
        h.run_acking(8)

    warnings = [
        r.getMessage() for r in caplog.records if "Command consumer error" in r.getMessage()
    ]
    assert len(warnings) == 3
    assert "_TRANSPORT" in warnings[0]
    assert "_ALL_BROKERS_DOWN" in warnings[1]
    assert "_BAD_MSG" in warnings[2]
    assert h.batches == []
    assert h.consumer.seeks == []
    assert not h.feed._failed

    # Readable again: the next error is news again.
    h.consumer.add(0)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="coordinator"):
        h.run_acking(3)
        h.consumer.injected.append([transport])
        h.run_acking(1)
    assert h.delivered_offsets() == [[0]]
    messages = [r.getMessage() for r in caplog.records]
    assert any("readable again" in m for m in messages)
    assert sum("Command consumer error" in m for m in messages) == 1


def test_a_fatal_error_marks_the_consumer_for_replacement() -> None:
    h = Harness()
    h.start_reading(0)
    h.step()
    assert not h.feed._failed

    h.consumer.injected.append([client_error(KafkaError._FATAL, "fenced member", fatal=True)])
    h.step()

    assert h.feed._failed
    assert h.batches == []


def test_run_replaces_a_failed_consumer_and_reports_the_owned_partition_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(feed_module, "RECREATE_SECONDS", 0.0)
    settings = Settings(topic_prefix="feedtest")
    topic = settings.topics.commands
    ownership = FakeOwnership()
    consumers: list[FakeConsumer] = []
    second_created = threading.Event()
    first_turns = 0

    def first_consume(consumer: FakeConsumer) -> list[FakeMessage] | None:
        nonlocal first_turns
        first_turns += 1
        if first_turns == 1:
            # librdkafka calls the rebalance callback from within consume.
            consumer.callbacks["assign"](consumer, [TopicPartition(topic, 0)])
            return []
        return [client_error(KafkaError._FATAL, "fenced by its own rejoin", fatal=True)]

    def factory(_settings: Settings) -> FakeConsumer:
        consumer = FakeConsumer(topic)
        if not consumers:
            consumer.on_consume = first_consume
        consumers.append(consumer)
        if len(consumers) == 2:
            second_created.set()
        return consumer

    feed = CommandFeed(settings, lambda _batch: None, ownership, consumer_factory=factory)
    thread = threading.Thread(target=feed.run, daemon=True)
    thread.start()
    try:
        assert second_created.wait(WAIT)
    finally:
        feed.stop()
        thread.join(WAIT)
    assert not thread.is_alive()

    assert len(consumers) == 2
    assert all(c.subscribed == [topic] for c in consumers)
    assert all(c.closed for c in consumers)
    assert ownership.calls[:2] == [("assigned", None), ("revoked", True)]
    assert not feed.owns_partition


def test_stop_ends_run_and_closes_the_consumer() -> None:
    settings = Settings(topic_prefix="feedtest")
    consumers: list[FakeConsumer] = []
    consuming = threading.Event()

    def factory(_settings: Settings) -> FakeConsumer:
        consumer = FakeConsumer(settings.topics.commands)

        def note(_consumer: FakeConsumer) -> list[FakeMessage]:
            consuming.set()
            return []

        consumer.on_consume = note
        consumers.append(consumer)
        return consumer

    feed = CommandFeed(settings, lambda _batch: None, FakeOwnership(), consumer_factory=factory)
    thread = threading.Thread(target=feed.run, daemon=True)
    thread.start()
    try:
        assert consuming.wait(WAIT)
    finally:
        feed.stop()
        thread.join(WAIT)

    assert not thread.is_alive()
    assert len(consumers) == 1
    assert consumers[0].closed


def test_reading_again_from_before_an_unreadable_batch_reports_it_again() -> None:
    # A step-down before the dead letters were committed (a broken writer, a lost partition):
    # the take-over that follows reads the same bad batch again from its base offset.
    h = Harness()
    h.consumer.bad = (10, 13)  # the last records of the topic so far
    h.start_reading(10)
    h.run_acking(10)
    assert [item.offset for batch in h.batches for item in batch.items] == [10, 11, 12]

    h.feed.stop_reading()
    generation = h.feed.read_from(10)
    h.consumer.seeks.clear()
    h.run_acking(10)

    again = [batch for batch in h.batches if batch.generation == generation]
    items = [item for batch in again for item in batch.items]
    assert [(type(item).__name__, item.offset) for item in items] == [
        ("Unreadable", 10),
        ("Unreadable", 11),
        ("Unreadable", 12),
    ]
    assert h.consumer.seeks == [(h.topic, 0, 11), (h.topic, 0, 12), (h.topic, 0, 13)]

    # The next command, readable, is delivered as it is.
    h.consumer.add(13)
    h.run_acking(3)
    (record,) = h.batches[-1].items
    assert isinstance(record, CommandRecord)
    assert record.offset == 13


def test_a_seek_the_consumer_refuses_assigns_the_partition_afresh_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """librdkafka refuses a seek (``_STATE``) on a partition left in an error state, e.g. after
    an out-of-range fetch position: the feed then assigns the partition at that offset."""
    h = Harness()
    h.consumer.bad = (10, 12)
    h.consumer.add(12, 13)
    h.start_reading(10)

    def refuse(partition: TopicPartition) -> None:
        raise KafkaException(KafkaError(KafkaError._STATE, "Erroneous state"))

    monkeypatch.setattr(h.consumer, "seek", refuse)
    h.step()

    # The start at 10, then (the seek past the bad offset refused) a fresh assignment at 11.
    assert h.consumer.assigns[-2:] == [[(h.topic, 0, 10)], [(h.topic, 0, 11)]]
