"""The journal writer against a fake transactional producer: what it produces, and how it sorts
the producer's errors into a retry, fencing, a broken producer or a journal failure."""

from __future__ import annotations

import json
import types
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from coordinator.config import Settings
from coordinator.errors import CoordinatorError, FencedError, JournalError, WriterBrokenError
from coordinator.kafka import writer as writer_module
from coordinator.kafka.records import Headers, OutRecord
from coordinator.kafka.writer import (
    PROGRESS_KEY,
    DeliveryReport,
    JournalWriter,
    RetryBatch,
    confluent_producer,
)

SETTINGS = Settings()
TOPICS = SETTINGS.topics
REPLY_TOPIC = f"{TOPICS.replies}.client-a"

FENCING_CODES = [
    KafkaError._FENCED,
    KafkaError.PRODUCER_FENCED,
    KafkaError.INVALID_PRODUCER_EPOCH,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
]


def kafka_exception(
    code: int,
    *,
    fatal: bool = False,
    retriable: bool = False,
    txn_requires_abort: bool = False,
) -> KafkaException:
    error = KafkaError(
        code,
        f"test error {code}",
        fatal=fatal,
        retriable=retriable,
        txn_requires_abort=txn_requires_abort,
    )
    return KafkaException(error)


@dataclass
class Produced:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None


@dataclass
class FakeProducer:
    """Records every call; delivery reports are served, like librdkafka's, from poll and commit.

    ``raises`` holds, per method name, the exceptions its next calls raise (one per call, in
    order); ``delivery_errors`` the error a topic's records are reported with.
    """

    config: dict[str, object] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    produced: list[Produced] = field(default_factory=list)
    raises: dict[str, list[BaseException]] = field(default_factory=lambda: defaultdict(list))
    delivery_errors: dict[str, KafkaError] = field(default_factory=dict)
    deliver_on_commit: bool = True
    on_commit: Callable[[], None] | None = None
    commit_timeouts: list[float] = field(default_factory=list)
    stuck: bool = False
    """Nothing is ever delivered (a broker that is away)."""
    _pending: list[tuple[DeliveryReport, Message]] = field(default_factory=list)
    _offsets: dict[str, int] = field(default_factory=lambda: defaultdict(lambda: 40))

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.raises[name]:
            raise self.raises[name].pop(0)

    def _deliver(self) -> int:
        pending, self._pending = self._pending, []
        for callback, message in pending:
            topic = message.topic()
            assert topic is not None
            error = self.delivery_errors.get(topic)
            if error is None:
                offset = self._offsets[topic]
                self._offsets[topic] += 1
                callback(None, Message(topic=topic, partition=0, offset=offset))
            else:
                callback(error, Message(topic=topic, partition=0, error=error))
        return len(pending)

    def init_transactions(self, timeout: float = -1, /) -> None:
        self._call("init_transactions")

    def begin_transaction(self) -> None:
        self._call("begin_transaction")

    def produce(
        self,
        topic: str,
        /,
        *,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: Headers | None = None,
        on_delivery: DeliveryReport | None = None,
    ) -> None:
        self._call("produce")
        self.produced.append(Produced(topic, key, value, headers))
        assert on_delivery is not None
        self._pending.append((on_delivery, Message(topic=topic, partition=0)))

    def poll(self, timeout: float = -1, /) -> int:
        self._call("poll")
        return self._deliver()

    def commit_transaction(self, timeout: float = -1, /) -> None:
        self.commit_timeouts.append(timeout)
        if self.on_commit is not None:
            self.on_commit()
        if self.deliver_on_commit:
            self._deliver()
        self._call("commit_transaction")

    def abort_transaction(self, timeout: float = -1, /) -> None:
        self._call("abort_transaction")

    def purge(self) -> None:
        self._call("purge")
        self._pending.clear()

    def flush(self, timeout: float = -1, /) -> int:
        """Deliver what is queued; returns, like librdkafka's, how many are still queued."""
        self._call("flush")
        if self.stuck:
            return len(self._pending)
        self._deliver()
        return 0

    def list_topics(self, *, timeout: float = -1) -> object:
        self._call("list_topics")
        return object()


class FakeClock:
    """Stands in for the ``time`` module of the writer: time passes only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def started(fake: FakeProducer) -> JournalWriter:
    """A started writer whose journal producer is ``fake`` (its reply producer another one)."""
    made = iter([fake])

    def factory(config: dict[str, object]) -> FakeProducer:
        made_now = next(made, FakeProducer())
        made_now.config = config
        return made_now

    writer = JournalWriter(SETTINGS, "worker-1", factory)
    writer.start(5.0)
    fake.calls.clear()
    return writer


def event(n: int) -> OutRecord:
    return OutRecord(TOPICS.events, f"e{n}".encode(), f"event {n}".encode(), [], is_event=True)


def reply(topic: str = REPLY_TOPIC) -> OutRecord:
    return OutRecord(topic, b"cmd-1", b"answer", [("correlationId", b"cmd-1")])


# -- the happy path -------------------------------------------------------------------------


def test_start_builds_the_transactional_producer_and_initialises_transactions() -> None:
    fake = FakeProducer()
    seen: list[dict[str, object]] = []

    def factory(config: dict[str, object]) -> FakeProducer:
        seen.append(config)
        return fake

    JournalWriter(SETTINGS, "worker-1", factory).start(7.0)

    assert fake.calls == ["init_transactions", "list_topics"]  # the same fake makes both
    config, replies = seen
    assert "transactional.id" not in replies
    assert config["transactional.id"] == TOPICS.writer_transactional_id
    assert config["client.id"] == "worker-1"
    assert config["enable.idempotence"] is True
    assert config["bootstrap.servers"] == SETTINGS.kafka_base()["bootstrap.servers"]


def test_write_returns_the_last_event_offset_and_produces_the_progress_record_last() -> None:
    fake = FakeProducer()
    writer = started(fake)

    last = writer.write([event(1), reply(), event(2), event(3)], next_command_offset=7)

    # The fake numbers the events topic's records 40, 41, 42.
    assert last == 42
    assert fake.calls == ["begin_transaction"] + ["produce"] * 5 + ["commit_transaction"]
    assert [p.topic for p in fake.produced] == [
        TOPICS.events,
        REPLY_TOPIC,
        TOPICS.events,
        TOPICS.events,
        TOPICS.progress,
    ]
    progress = fake.produced[-1]
    assert progress.key == PROGRESS_KEY
    assert progress.value is not None
    assert json.loads(progress.value) == {"nextCommandOffset": 7}
    assert fake.produced[1].headers == [("correlationId", b"cmd-1")]


def test_write_without_events_or_progress_returns_none_and_produces_only_the_records() -> None:
    fake = FakeProducer()
    writer = started(fake)

    assert writer.write([reply()], next_command_offset=None) is None
    assert [p.topic for p in fake.produced] == [REPLY_TOPIC]


def test_each_write_reports_only_its_own_event_offsets() -> None:
    fake = FakeProducer()
    writer = started(fake)

    assert writer.write([event(1), event(2)], 3) == 41
    assert writer.write([reply()], 4) is None
    assert writer.write([event(3)], 5) == 42


def test_a_full_local_queue_is_drained_by_polling_and_the_record_produced_again() -> None:
    fake = FakeProducer()
    fake.raises["produce"] = [BufferError("queue full"), BufferError("queue full")]
    writer = started(fake)

    assert writer.write([event(1)], 2) == 40
    assert fake.calls[:6] == ["begin_transaction", "produce", "poll", "produce", "poll", "produce"]
    assert [p.topic for p in fake.produced][-2:] == [TOPICS.events, TOPICS.progress]


# -- retries --------------------------------------------------------------------------------


def test_a_retriable_commit_error_is_retried_and_the_batch_committed() -> None:
    fake = FakeProducer()
    fake.raises["commit_transaction"] = [
        kafka_exception(KafkaError._TIMED_OUT, retriable=True),
        kafka_exception(KafkaError.CONCURRENT_TRANSACTIONS, retriable=True),
    ]
    writer = started(fake)

    assert writer.write([event(1)], 2) == 40
    assert fake.calls.count("commit_transaction") == 3
    assert "abort_transaction" not in fake.calls


def test_a_retriable_commit_error_is_retried_until_the_deadline_then_the_batch_aborted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(writer_module, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    fake = FakeProducer()
    fake.raises["commit_transaction"] = [
        kafka_exception(KafkaError._TIMED_OUT, retriable=True) for _ in range(100)
    ]

    def tick() -> None:
        clock.now += 2.5

    fake.on_commit = tick
    writer = started(fake)

    with pytest.raises(RetryBatch) as caught:
        writer.write([event(1)], 2, timeout=10.0)

    # Each commit takes 2.5 s of the 10: those that fail before the deadline are retried, the
    # fourth fails at it and the batch is aborted.
    assert fake.calls.count("commit_transaction") == 4
    assert fake.commit_timeouts == [10.0, 7.5, 5.0, 2.5]
    assert fake.calls[-2:] == ["abort_transaction", "poll"]
    assert caught.value.rejected == {}


def test_an_abortable_error_aborts_and_names_the_topics_the_broker_refused() -> None:
    fake = FakeProducer()
    fake.delivery_errors[REPLY_TOPIC] = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
    fake.raises["commit_transaction"] = [
        kafka_exception(KafkaError.MSG_SIZE_TOO_LARGE, txn_requires_abort=True)
    ]
    writer = started(fake)

    with pytest.raises(RetryBatch) as caught:
        writer.write([event(1), reply()], 2)

    assert caught.value.rejected == {REPLY_TOPIC: "Broker: Message size too large"}
    assert isinstance(caught.value, CoordinatorError)
    assert fake.calls[-3:] == ["commit_transaction", "abort_transaction", "poll"]


def test_refusals_reported_only_after_the_abort_are_named_too() -> None:
    fake = FakeProducer(deliver_on_commit=False)
    fake.delivery_errors[REPLY_TOPIC] = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)
    fake.raises["commit_transaction"] = [
        kafka_exception(KafkaError.TRANSACTION_ABORTABLE, txn_requires_abort=True)
    ]
    writer = started(fake)

    with pytest.raises(RetryBatch) as caught:
        writer.write([event(1), reply()], 2)

    assert set(caught.value.rejected) == {REPLY_TOPIC}


def test_transient_delivery_errors_are_not_named_as_refusals() -> None:
    fake = FakeProducer()
    fake.delivery_errors[TOPICS.events] = KafkaError(KafkaError._MSG_TIMED_OUT)
    fake.raises["commit_transaction"] = [
        kafka_exception(KafkaError._MSG_TIMED_OUT, txn_requires_abort=True)
    ]
    writer = started(fake)

    with pytest.raises(RetryBatch) as caught:
        writer.write([event(1)], 2)

    assert caught.value.rejected == {}


def test_refusals_of_one_batch_are_not_carried_into_the_next() -> None:
    fake = FakeProducer()
    fake.delivery_errors[REPLY_TOPIC] = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
    fake.raises["commit_transaction"] = [
        kafka_exception(KafkaError.MSG_SIZE_TOO_LARGE, txn_requires_abort=True),
        kafka_exception(KafkaError.TRANSACTION_ABORTABLE, txn_requires_abort=True),
    ]
    writer = started(fake)

    with pytest.raises(RetryBatch):
        writer.write([reply()], 2)
    with pytest.raises(RetryBatch) as caught:
        writer.write([event(1)], 2)

    assert caught.value.rejected == {}


def test_a_retry_batch_keeps_its_reason_and_defaults_to_no_refusals() -> None:
    retry = RetryBatch("aborted")
    assert str(retry) == "aborted"
    assert retry.rejected == {}
    assert RetryBatch("aborted", {"t": "too large"}).rejected == {"t": "too large"}


# -- fencing, a broken producer, failures ----------------------------------------------------


@pytest.mark.parametrize("code", FENCING_CODES)
@pytest.mark.parametrize("fatal", [False, True])
def test_fencing_raises_fenced_error(code: int, fatal: bool) -> None:
    fake = FakeProducer()
    fake.raises["commit_transaction"] = [kafka_exception(code, fatal=fatal)]
    writer = started(fake)

    with pytest.raises(FencedError):
        writer.write([event(1)], 2)
    assert "abort_transaction" not in fake.calls


@pytest.mark.parametrize("code", FENCING_CODES)
def test_fencing_wins_over_an_abortable_flag(code: int) -> None:
    fake = FakeProducer()
    fake.raises["begin_transaction"] = [kafka_exception(code, txn_requires_abort=True)]
    writer = started(fake)

    with pytest.raises(FencedError):
        writer.write([event(1)], 2)
    assert fake.calls == ["begin_transaction"]


@pytest.mark.parametrize("code", [KafkaError._INCONSISTENT, KafkaError._FATAL])
@pytest.mark.parametrize("method", ["begin_transaction", "produce", "commit_transaction"])
def test_a_fatal_error_that_is_not_fencing_raises_writer_broken_error(
    code: int, method: str
) -> None:
    fake = FakeProducer()
    fake.raises[method] = [kafka_exception(code, fatal=True)]
    writer = started(fake)

    with pytest.raises(WriterBrokenError) as caught:
        writer.write([event(1)], 2)
    assert not isinstance(caught.value, FencedError)
    assert isinstance(caught.value.__cause__, KafkaException)
    assert "abort_transaction" not in fake.calls


@pytest.mark.parametrize(
    ("abort_error", "expected"),
    [
        (kafka_exception(KafkaError.PRODUCER_FENCED, fatal=True), FencedError),
        (kafka_exception(KafkaError._FENCED, fatal=True), FencedError),
        (kafka_exception(KafkaError.INVALID_PRODUCER_EPOCH), FencedError),
        (kafka_exception(KafkaError._FATAL, fatal=True), WriterBrokenError),
        (kafka_exception(KafkaError._INCONSISTENT, fatal=True), WriterBrokenError),
        (kafka_exception(KafkaError._TIMED_OUT, retriable=True), JournalError),
    ],
)
def test_an_abort_that_fails_is_sorted_by_the_same_rule(
    abort_error: KafkaException, expected: type[CoordinatorError]
) -> None:
    fake = FakeProducer()
    fake.raises["commit_transaction"] = [
        kafka_exception(KafkaError.TRANSACTION_ABORTABLE, txn_requires_abort=True)
    ]
    fake.raises["abort_transaction"] = [abort_error]
    writer = started(fake)

    with pytest.raises(expected) as caught:
        writer.write([event(1)], 2)
    assert type(caught.value) is expected
    assert caught.value.__cause__ is abort_error


def test_an_error_neither_fatal_nor_abortable_nor_retriable_is_a_journal_error() -> None:
    fake = FakeProducer()
    fake.raises["commit_transaction"] = [kafka_exception(KafkaError._INVALID_ARG)]
    writer = started(fake)

    with pytest.raises(JournalError) as caught:
        writer.write([event(1)], 2)
    assert type(caught.value) is JournalError
    assert "abort_transaction" not in fake.calls


def test_write_before_start_is_a_journal_error() -> None:
    fake = FakeProducer()
    writer = JournalWriter(SETTINGS, "worker-1", lambda config: fake)

    with pytest.raises(JournalError):
        writer.write([event(1)], 2)
    assert fake.calls == []


def test_write_after_close_is_a_journal_error() -> None:
    writer = started(FakeProducer())
    writer.close()

    with pytest.raises(JournalError):
        writer.write([event(1)], 2)


# -- closing ----------------------------------------------------------------------------------


def test_close_purges_and_flushes() -> None:
    fake = FakeProducer()
    writer = started(fake)

    writer.close()

    assert fake.calls == ["purge", "flush"]


@pytest.mark.parametrize(
    "error",
    [kafka_exception(KafkaError._FATAL, fatal=True), RuntimeError("handle destroyed")],
)
def test_close_never_raises_even_when_purge_and_flush_do(error: Exception) -> None:
    fake = FakeProducer()
    fake.raises["purge"] = [error]
    fake.raises["flush"] = [error]
    writer = started(fake)

    writer.close()
    writer.close()

    assert fake.calls == ["purge", "flush"]


def test_close_before_start_does_nothing() -> None:
    JournalWriter(SETTINGS, "worker-1", lambda config: FakeProducer()).close()


def test_the_default_factory_builds_a_confluent_producer() -> None:
    # No broker is contacted: the producer is built, and flushes nothing.
    producer = confluent_producer({"bootstrap.servers": "127.0.0.1:1"})
    assert isinstance(producer, Producer)
    assert producer.flush(0) == 0


# -- answers without a transaction ------------------------------------------------------------


def with_reply_producer() -> tuple[JournalWriter, FakeProducer, FakeProducer]:
    """A started writer, its journal producer and its reply producer (calls cleared)."""
    journal, replies = FakeProducer(), FakeProducer()
    made = iter([journal, replies])

    def factory(config: dict[str, object]) -> FakeProducer:
        fake = next(made)
        fake.config = config
        return fake

    writer = JournalWriter(SETTINGS, "worker-1", factory)
    writer.start(5.0)
    replies.calls.clear()
    return writer, journal, replies


def test_start_connects_the_reply_producer_before_the_first_answer() -> None:
    journal, replies = FakeProducer(), FakeProducer()
    made = iter([journal, replies])

    JournalWriter(SETTINGS, "worker-1", lambda config: next(made)).start(5.0)

    assert journal.calls == ["init_transactions"]
    assert replies.calls == ["list_topics"]


def test_a_reply_producer_that_cannot_connect_yet_does_not_stop_the_start() -> None:
    journal, replies = FakeProducer(), FakeProducer()
    replies.raises["list_topics"].append(KafkaException(KafkaError(KafkaError._TRANSPORT)))
    made = iter([journal, replies])
    writer = JournalWriter(SETTINGS, "worker-1", lambda config: next(made))

    writer.start(5.0)
    writer.write_replies([reply()])

    assert replies.calls == ["list_topics", "produce", "flush"]


def test_replies_are_produced_by_an_idempotent_producer_outside_any_transaction() -> None:
    writer, journal, replies = with_reply_producer()

    writer.write_replies([reply(), reply()])
    writer.write_replies([reply()])

    assert replies.calls == ["produce", "produce", "flush", "produce", "flush"]
    assert replies.config["enable.idempotence"] is True
    assert "transactional.id" not in replies.config
    assert replies.config["client.id"] == "worker-1-replies"
    assert [p.topic for p in replies.produced] == [REPLY_TOPIC] * 3
    assert journal.calls == ["init_transactions"]  # the journal's producer is not touched


def test_replies_refused_for_good_name_their_topic() -> None:
    writer, _journal, replies = with_reply_producer()
    replies.delivery_errors[REPLY_TOPIC] = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)

    with pytest.raises(RetryBatch) as caught:
        writer.write_replies([reply()])

    assert list(caught.value.rejected) == [REPLY_TOPIC]


def test_replies_failing_transiently_are_retried_without_naming_a_topic() -> None:
    writer, _journal, replies = with_reply_producer()
    replies.delivery_errors[REPLY_TOPIC] = KafkaError(KafkaError._MSG_TIMED_OUT)

    with pytest.raises(RetryBatch) as caught:
        writer.write_replies([reply()])

    assert caught.value.rejected == {}


def test_replies_not_delivered_in_time_are_purged_and_retried() -> None:
    writer, _journal, replies = with_reply_producer()
    replies.stuck = True

    with pytest.raises(RetryBatch, match="not delivered within"):
        writer.write_replies([reply()], timeout=0.1)

    assert replies.calls[-2:] == ["purge", "poll"]


def test_a_reply_producer_failing_fatally_breaks_the_writer() -> None:
    writer, _journal, replies = with_reply_producer()
    replies.delivery_errors[REPLY_TOPIC] = KafkaError(KafkaError._FATAL, "fatal", fatal=True)

    with pytest.raises(WriterBrokenError):
        writer.write_replies([reply()])


def test_replies_before_start_are_a_journal_error() -> None:
    with pytest.raises(JournalError):
        JournalWriter(SETTINGS, "worker-1", lambda _config: FakeProducer()).write_replies([reply()])


def test_close_flushes_the_reply_producer_too() -> None:
    writer, journal, replies = with_reply_producer()
    writer.write_replies([reply()])

    writer.close()

    assert replies.calls[-1] == "flush"
    assert journal.calls[-2:] == ["purge", "flush"]
